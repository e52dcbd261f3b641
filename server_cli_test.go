package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
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
		for _, want := range []string{"serve", "migrate", "seed", "create-staff", "--no-migrate", "--role", "--email", "--password"} {
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
