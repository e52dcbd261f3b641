// Package mailtest starts a private mailpit (an SMTP server with an HTTP
// API) for a test, so tests send real email over SMTP and read what arrived.
//
// The binary is $MAILPIT_BIN, else bin/tools/mailpit at the module root
// (`make tools` builds it), else mailpit on the PATH.
package mailtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"commerce/internal/platform/testtool"
)

// startTimeout bounds how long mailpit may take to answer after start.
const startTimeout = 15 * time.Second

// Server is a running mailpit.
type Server struct {
	api  string // http://127.0.0.1:PORT
	smtp string // 127.0.0.1:PORT
	http *http.Client
}

// Summary is a message as listed.
type Summary struct {
	ID      string
	Subject string
	From    string
	To      []string
}

// Full is a message with its bodies and headers.
type Full struct {
	Summary
	Text string
	HTML string
	// Headers are keyed in canonical form ("X-Notification-Id"); Header
	// looks one up by any spelling.
	Headers map[string][]string
}

// Header returns the first value of the named header, or "".
func (f Full) Header(name string) string {
	return textproto.MIMEHeader(f.Headers).Get(name)
}

// Start runs mailpit on free loopback ports for the rest of the test and
// stops it on cleanup. extraArgs are added to its command line, e.g.
// "--smtp-allowed-recipients", "^ok@". It fails the test when the binary is
// missing or mailpit does not come up. A port taken by another process
// between choosing it and binding it (parallel test packages) is retried on
// new ports.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	bin := testtool.Binary(t, "MAILPIT_BIN", "mailpit")
	return testtool.Retrying(t, "mailtest: mailpit", func() (*Server, string, error) { return start(t, bin, extraArgs) })
}

// start runs mailpit once and waits until it answers; on failure it
// returns what mailpit printed.
func start(t testing.TB, bin string, extraArgs []string) (*Server, string, error) {
	dir := t.TempDir()
	ports := testtool.FreePorts(t, 2)
	httpPort, smtpPort := ports[0], ports[1]
	s := &Server{
		api:  "http://127.0.0.1:" + strconv.Itoa(httpPort),
		smtp: "127.0.0.1:" + strconv.Itoa(smtpPort),
		http: &http.Client{Timeout: 10 * time.Second},
	}
	args := append([]string{
		"--listen", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--smtp", s.smtp,
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns",
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
	}, extraArgs...)
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("mailtest: start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { stop(cmd, exited) })
	if err := s.waitReady(exited); err != nil {
		stop(cmd, exited)
		return nil, out.String(), err
	}
	return s, "", nil
}

// waitReady waits until both the API and the SMTP port answer.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("mailpit exited")
		case <-time.After(50 * time.Millisecond):
		}
		if s.get("/api/v1/info", nil) != nil {
			continue
		}
		if c, err := net.DialTimeout("tcp", s.smtp, time.Second); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("no answer within %s", startTimeout)
}

// stop asks mailpit to shut down and kills it if it does not.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// SMTPURL is the URL to send through, e.g. "smtp://127.0.0.1:41025".
func (s *Server) SMTPURL() string { return "smtp://" + s.smtp }

// Messages returns every message received, newest first.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	return s.list(t, "/api/v1/messages")
}

// Search returns the messages matching a mailpit search query, such as
// "to:a@example.com subject:receipt", newest first.
func (s *Server) Search(t testing.TB, query string) []Summary {
	t.Helper()
	return s.list(t, "/api/v1/search?query="+url.QueryEscape(query))
}

// WaitForMessages waits until at least n messages have arrived and returns
// them, newest first. It fails the test after timeout.
func (s *Server) WaitForMessages(t testing.TB, n int, timeout time.Duration) []Summary {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages(t)
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d messages after %s, want %d", len(msgs), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Message returns the message with the given id, bodies and headers included.
func (s *Server) Message(t testing.TB, id string) Full {
	t.Helper()
	var m apiMessage
	if err := s.get("/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		t.Fatalf("mailtest: get message %s: %v", id, err)
	}
	var headers map[string][]string
	if err := s.get("/api/v1/message/"+url.PathEscape(id)+"/headers", &headers); err != nil {
		t.Fatalf("mailtest: get headers of %s: %v", id, err)
	}
	f := Full{Summary: m.summary(), Text: m.Text, HTML: m.HTML, Headers: map[string][]string{}}
	for k, v := range headers {
		f.Headers[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	return f
}

// Clear deletes every message.
func (s *Server) Clear(t testing.TB) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.api+"/api/v1/messages", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("mailtest: clear: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: clear: %s", resp.Status)
	}
}

type apiAddress struct {
	Address string
}

type apiMessage struct {
	ID      string
	Subject string
	From    apiAddress
	To      []apiAddress
	Text    string
	HTML    string
}

func (m apiMessage) summary() Summary {
	s := Summary{ID: m.ID, Subject: m.Subject, From: m.From.Address}
	for _, a := range m.To {
		s.To = append(s.To, a.Address)
	}
	return s
}

func (s *Server) list(t testing.TB, path string) []Summary {
	t.Helper()
	var body struct{ Messages []apiMessage }
	if err := s.get(path, &body); err != nil {
		t.Fatalf("mailtest: %s: %v", path, err)
	}
	out := make([]Summary, len(body.Messages))
	for i, m := range body.Messages {
		out[i] = m.summary()
	}
	return out
}

// get fetches an API path and decodes its JSON into v when v is not nil.
func (s *Server) get(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
