package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/testtool"
)

// commerce -h, --help and help list every command with its flags and
// succeed (main exits 0), without reading any configuration; so does a
// command's own -h.
func TestHelpListsCommands(t *testing.T) {
	nothing := func(string) string { return "" }
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"-help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, nothing, &out); err != nil {
			t.Errorf("commerce %s: %v", args[0], err)
		}
		for _, want := range []string{"serve", "migrate", "seed", "create-staff", "healthcheck", "--no-migrate", "--role", "--email", "--password"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("commerce %s does not mention %s:\n%s", args[0], want, out.String())
			}
		}
	}
	for _, args := range [][]string{{"serve", "-h"}, {"create-staff", "--help"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, nothing, &out); err != nil || !strings.Contains(out.String(), "-role") {
			t.Errorf("commerce %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	if err := run(context.Background(), []string{"serv"}, nothing, io.Discard); err == nil || !strings.Contains(err.Error(), "-h") {
		t.Errorf("an unknown command: %v, want an error that points at -h", err)
	}
}

// commerce healthcheck succeeds only when /readyz on HTTP_ADDR answers
// 200, probing an address on every interface on loopback, and fails
// within its timeout when the server hangs.
func TestHealthcheck(t *testing.T) {
	var status atomic.Int32
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/readyz":
			http.NotFound(w, r)
		case status.Load() == 0:
			<-hang
		default:
			w.WriteHeader(int(status.Load()))
		}
	}))
	defer srv.Close()
	defer close(hang) // first: Close waits for the hung request
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	check := func(addr string) error {
		var out bytes.Buffer
		return run(context.Background(), []string{"healthcheck"}, func(k string) string {
			if k == "HTTP_ADDR" {
				return addr
			}
			return ""
		}, &out)
	}
	status.Store(http.StatusOK)
	for _, addr := range []string{srv.Listener.Addr().String(), ":" + port, "0.0.0.0:" + port} {
		if err := check(addr); err != nil {
			t.Errorf("HTTP_ADDR=%s, /readyz 200: %v, want success", addr, err)
		}
	}
	status.Store(http.StatusServiceUnavailable)
	if err := check(":" + port); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("/readyz 503: %v, want a failure naming the status", err)
	}
	if err := check(testtool.FreeAddr(t)); err == nil {
		t.Error("nothing listening: success, want a failure")
	}
	status.Store(0)
	start := time.Now()
	if err := check(":" + port); err == nil || time.Since(start) > healthcheckTimeout+time.Second {
		t.Errorf("a hung /readyz: %v after %s, want a failure within %s", err, time.Since(start), healthcheckTimeout)
	}
}

// syncBuffer collects the program's output from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The URLs serve prints follow HTTP_ADDR when PUBLIC_BASE_URL is not set.
func TestPrintedURLsFollowHTTPAddr(t *testing.T) {
	addr := testtool.FreeAddr(t)
	env := map[string]string{"APP_ENV": "development", "DATABASE_URL": dbtest.URL(t), "HTTP_ADDR": addr}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--no-migrate", "--role=api"}, func(k string) string { return env[k] }, out)
	}()
	waitHealthy(t, "http://"+addr, done)

	var serving map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for serving == nil {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "serving" {
				serving = line
			}
		}
		if serving == nil && time.Now().After(deadline) {
			t.Fatalf("no serving line in the output:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, port, _ := net.SplitHostPort(addr)
	for key, path := range map[string]string{"playground": "/playground", "shop": "/shop", "admin": "/admin"} {
		if want := "http://127.0.0.1:" + port + path; serving[key] != want {
			t.Errorf("serving line: %s = %v, want %s", key, serving[key], want)
		}
	}
	stop()
	<-done
}
