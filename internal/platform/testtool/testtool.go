// Package testtool finds the pinned tool binaries that tests run as
// processes (mailpit, stripe-mock), and free loopback ports for them.
package testtool

import (
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Binary returns the path of the tool called name: $envVar when it is set,
// else bin/tools/<name> under the module root (where `make tools` installs
// the pinned version), else name on PATH or in GOPATH/bin. It fails the
// test, saying how to get the tool, when there is none.
func Binary(t testing.TB, envVar, name string) string {
	t.Helper()
	if b := os.Getenv(envVar); b != "" {
		return b
	}
	if root, ok := moduleRoot(); ok {
		b := filepath.Join(root, "bin", "tools", name)
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	if b, err := exec.LookPath(name); err == nil {
		return b
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		b := filepath.Join(dir, "bin", name)
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	t.Fatalf("%s binary not found: run `make tools` (builds bin/tools/%s), or set %s", name, name, envVar)
	return ""
}

// moduleRoot is the nearest folder above the working directory (a test's
// package folder) that holds go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// server under test to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// tool process that must be told its port.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// Retrying starts a tool process on free ports with start, again on new
// ports when one was taken between choosing and binding it (parallel test
// packages), at most three times. start returns what the tool printed when
// it fails; any other failure, or the third, fails the test naming what.
func Retrying[S any](t testing.TB, what string, start func() (S, string, error)) S {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		s, out, err := start()
		if err == nil {
			return s
		}
		if attempt == attempts || !strings.Contains(out, "address already in use") {
			t.Fatalf("%s did not start: %v\n%s", what, err, out)
		}
	}
}

// FreePorts returns n distinct loopback TCP ports that were free a moment
// ago, for a tool process that listens on several: each is held until all
// are chosen, so the kernel cannot hand out one of them twice.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
