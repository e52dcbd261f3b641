package e2e

// The command line of the built binary (issue 13): help lists the commands
// and exits 0, and the URLs printed at start follow HTTP_ADDR, or
// PUBLIC_BASE_URL when it is set. server_cli_test.go checks the same
// through run(); these check what main makes of it, exit codes included.

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"commerce/internal/platform/testtool"
)

// cliRun runs the binary with args and no environment, in an empty
// directory (no .env), and returns its exit code and output.
func cliRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2eBinary(t), args...)
	cmd.Env, cmd.Dir = []string{}, t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("commerce %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestE2EHelpListsCommands(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "help"} {
		code, out := cliRun(t, arg)
		if code != 0 {
			t.Errorf("commerce %s exited %d, want 0:\n%s", arg, code, out)
		}
		for _, command := range []string{"serve", "migrate", "seed", "create-staff", "healthcheck"} {
			if !strings.Contains(out, "\n  "+command+" ") {
				t.Errorf("commerce %s does not list %s:\n%s", arg, command, out)
			}
		}
	}
	if code, out := cliRun(t, "serv"); code == 0 || !strings.Contains(out, "commerce -h") {
		t.Errorf("an unknown command exited %d, want a failure that points at commerce -h:\n%s", code, out)
	}
}

// cliServing returns the fields of the server's "serving" log line.
func cliServing(t *testing.T, s *e2eServer) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for line := range strings.Lines(s.out.String()) {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "serving" {
				return entry
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no serving line:\n%s", s.name, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestE2EPrintedURLsFollowTheAddress(t *testing.T) {
	deps := startDeps(t, false)
	for _, tc := range []struct {
		name, publicBaseURL, want string // want: "" is http:// and HTTP_ADDR
	}{
		{"HTTP_ADDR alone", "", ""},
		{"PUBLIC_BASE_URL set", "https://shop.example.com/", "https://shop.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testtool.FreeAddr(t) // 127.0.0.1:<port>, as HTTP_ADDR=127.0.0.1:8301 in the issue
			if tc.want == "" {
				tc.want = "http://" + addr
			}
			srv := startServer(t, "cli-urls", deps.env(t, map[string]string{
				"HTTP_ADDR": addr, "PUBLIC_BASE_URL": tc.publicBaseURL, "SHOP_ENABLED": "true",
			}))
			serving := cliServing(t, srv)
			for _, path := range []string{"playground", "shop", "admin"} {
				if want := tc.want + "/" + path; serving[path] != want {
					t.Errorf("serving line: %s = %v, want %s", path, serving[path], want)
				}
			}
		})
	}
}

// TestE2EHealthcheck: commerce healthcheck, the container image's health
// check, exits 0 against a serving server on its HTTP_ADDR and 1 when
// nothing answers there.
func TestE2EHealthcheck(t *testing.T) {
	deps := startDeps(t, false)
	srv := startServer(t, "healthcheck", deps.env(t, nil))
	for _, tc := range []struct {
		addr string
		code int
	}{
		{strings.TrimPrefix(srv.base, "http://"), 0},
		{testtool.FreeAddr(t), 1},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, e2eBinary(t), "healthcheck")
		cmd.Env, cmd.Dir = []string{"HTTP_ADDR=" + tc.addr}, t.TempDir()
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("commerce healthcheck: %v", err)
		}
		if code := cmd.ProcessState.ExitCode(); code != tc.code {
			t.Errorf("HTTP_ADDR=%s: commerce healthcheck exited %d, want %d:\n%s", tc.addr, code, tc.code, out)
		}
	}
}
