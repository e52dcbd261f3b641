// Package e2e drives the built service binary from outside, over HTTP and
// websocket only, as a storefront, an admin dashboard, Stripe and an
// attacker would: checkout and payments, fulfilment and scheduled jobs,
// quotas and hostile input, faults of Redis, Postgres and SMTP, the demo
// storefront in Chromium, and the documents' links. Each test starts its
// own servers (see startServer) against one database for the package.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// processCPU is the CPU time (user + system) process pid has used so far,
// from /proc/<pid>/stat, which counts it in clock ticks of 1/100 s (USER_HZ
// on every architecture Go runs Linux on).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read the CPU time of process %d: %v", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
