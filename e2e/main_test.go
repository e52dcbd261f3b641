// Package e2e drives the built service binary from outside, over HTTP and
// websocket only, as a storefront, an admin dashboard, Stripe and an
// attacker would: checkout and payments, fulfilment and scheduled jobs,
// quotas and hostile input, faults of Redis, Postgres and SMTP, the demo
// storefront in Chromium, and the documents' links. Each test starts its
// own servers (see startServer) against one database for the package.
package e2e

import (
	"net"
	"os"
	"testing"

	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// freeAddr is a loopback address nothing listens on, for a server to take.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
