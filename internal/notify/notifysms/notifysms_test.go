package notifysms_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/notify/notifysms"
	"commerce/internal/platform/db"
	"commerce/internal/platform/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "s3cret-auth-token"
	from  = "+12025550100"
)

// twilioRequest is one request the fake received.
type twilioRequest struct {
	path, user, pass, contentType string
	to, from, body                string
}

// fakeTwilio speaks Twilio's Messages API: it answers each request with the
// next status of script (201 once the script is used up) and records it.
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	requests []twilioRequest
}

func startTwilio(t *testing.T, script ...int) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, _ := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, twilioRequest{path: r.URL.Path, user: user, pass: pass,
		contentType: r.Header.Get("Content-Type"), to: r.PostForm.Get("To"), from: r.PostForm.Get("From"), body: r.PostForm.Get("Body")})
	status := http.StatusCreated
	if len(f.script) > 0 {
		status, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	switch {
	case status == http.StatusCreated:
		fmt.Fprintf(w, `{"sid":"SM0123","status":"queued","to":%q}`, r.PostForm.Get("To"))
	case status == http.StatusBadRequest:
		fmt.Fprint(w, `{"code":21211,"message":"The 'To' number +15005550001 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`)
	default:
		fmt.Fprintf(w, `{"code":20500,"message":"Internal Server Error","status":%d}`, status)
	}
}

func (f *fakeTwilio) received() []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]twilioRequest(nil), f.requests...)
}

func newSender(t *testing.T, apiBase string) *notifysms.Sender {
	t.Helper()
	s, err := notifysms.New(notifysms.Config{AccountSID: sid, AuthToken: token, From: from, APIBase: apiBase, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  notifysms.Config
		ok   bool
	}{
		{"complete", notifysms.Config{AccountSID: sid, AuthToken: token, From: from}, true},
		{"local API", notifysms.Config{AccountSID: sid, AuthToken: token, From: from, APIBase: "http://127.0.0.1:4010"}, true},
		{"no token", notifysms.Config{AccountSID: sid, From: from}, false},
		{"no sender", notifysms.Config{AccountSID: sid, AuthToken: token}, false},
		{"bad API base", notifysms.Config{AccountSID: sid, AuthToken: token, From: from, APIBase: "ftp://twilio"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notifysms.New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestSendSMS(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name      string
		status    int    // the fake's answer; 0 to use closed
		to        string // as stored
		ok        bool
		permanent bool
		errText   string
		requests  int
	}{
		{"accepted", http.StatusCreated, "+1 (202) 555-0123", true, false, "", 1},
		{"invalid number never sent", http.StatusCreated, "555-0123", false, true, "invalid phone number", 0},
		{"rejected by Twilio (400)", http.StatusBadRequest, "+12025550123", false, true, "is not a valid phone number. (Twilio error 21211)", 1},
		{"rate limited (429)", http.StatusTooManyRequests, "+12025550123", false, false, "429", 1},
		{"Twilio down (503)", http.StatusServiceUnavailable, "+12025550123", false, false, "503", 1},
		{"nobody listening", 0, "+12025550123", false, false, "connection refused", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := closed
			var f *fakeTwilio
			if tc.status != 0 {
				f = startTwilio(t, tc.status)
				base = f.URL
			}
			err := newSender(t, base).SendSMS(context.Background(), tc.to, "Your order ORD-7K2M9QX4HB has shipped.")
			if (err == nil) != tc.ok || errors.Is(err, notify.ErrPermanent) != tc.permanent {
				t.Fatalf("SendSMS = %v, want ok=%v permanent=%v", err, tc.ok, tc.permanent)
			}
			if err != nil && (!strings.Contains(err.Error(), tc.errText) || strings.Contains(err.Error(), token)) {
				t.Errorf("error %q should hold %q and no secret", err, tc.errText)
			}
			if f == nil {
				return
			}
			reqs := f.received()
			if len(reqs) != tc.requests {
				t.Fatalf("Twilio received %d requests, want %d", len(reqs), tc.requests)
			}
			if !tc.ok || len(reqs) == 0 {
				return
			}
			want := twilioRequest{path: "/2010-04-01/Accounts/" + sid + "/Messages.json", user: sid, pass: token,
				contentType: "application/x-www-form-urlencoded", to: "+12025550123", from: from,
				body: "Your order ORD-7K2M9QX4HB has shipped."}
			if reqs[0] != want {
				t.Errorf("request = %+v\nwant      %+v", reqs[0], want)
			}
		})
	}
}

type bundle struct {
	db *db.DB
}

// setup returns a notify service sending SMS through Twilio at apiBase,
// with at most maxAttempts attempts retryBase apart (doubling).
func setup(t *testing.T, apiBase string, maxAttempts int, retryBase time.Duration) (*notify.Service, *bundle) {
	t.Helper()
	b := &bundle{db: dbtest.DB(t)}
	inserter, err := jobs.NewInserter(b.db)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	svc, err := notify.NewService(b.db, inserter, notify.LogSender{Log: log}, newSender(t, apiBase),
		notify.Config{MaxAttempts: maxAttempts, RetryBase: retryBase}, log)
	if err != nil {
		t.Fatal(err)
	}
	return svc, b
}

// enqueueSMS commits an order-shipped-sms to phone and returns its id.
func enqueueSMS(t *testing.T, svc *notify.Service, b *bundle, phone string) string {
	t.Helper()
	err := b.db.RunInTx(context.Background(), func(ctx context.Context, tx bun.Tx) error {
		return svc.Enqueue(ctx, tx, notify.Message{Channel: notify.SMS, To: phone, Template: "order-shipped-sms",
			Data: map[string]any{"order_number": "ORD-7K2M9QX4HB", "carrier": "UPS", "tracking_number": "1Z999AA10123456784"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.List(context.Background(), notify.Filter{To: phone}, nil, "")
	if err != nil || len(p.Edges) == 0 {
		t.Fatalf("find enqueued sms: %v", err)
	}
	return p.Edges[0].Node.ID
}

type outcome struct {
	status    notify.Status
	attempts  int
	lastError sql.NullString
}

func outcomeOf(t *testing.T, b *bundle, id string) outcome {
	t.Helper()
	var o outcome
	err := b.db.Bun.QueryRowContext(context.Background(),
		`SELECT status, attempts, last_error FROM notifications WHERE id = ?`, id).Scan(&o.status, &o.attempts, &o.lastError)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// phone is a well-formed number no other test of the package uses.
func phone(n int) string { return fmt.Sprintf("+1202555%04d", n) }

func TestDeliverRejectedSMSFailsAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		to       string
		requests int
		errText  string
	}{
		{"Twilio answers 400", phone(1), 1, "The 'To' number +15005550001 is not a valid phone number. (Twilio error 21211)"},
		{"number we cannot read", "call me maybe", 0, "invalid phone number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startTwilio(t, http.StatusBadRequest)
			svc, b := setup(t, f.URL, 5, time.Second)
			id := enqueueSMS(t, svc, b, tc.to)

			err := svc.Deliver(context.Background(), id)
			var final *notify.FinalError
			if !errors.As(err, &final) || !errors.Is(err, notify.ErrPermanent) {
				t.Fatalf("Deliver = %v, want a permanent *FinalError", err)
			}
			o := outcomeOf(t, b, id)
			if o.status != notify.Failed || o.attempts != 1 || !strings.Contains(o.lastError.String, tc.errText) ||
				strings.Contains(o.lastError.String, token) {
				t.Errorf("outcome = %+v, want FAILED after 1 attempt with %q", o, tc.errText)
			}
			if n := len(f.received()); n != tc.requests {
				t.Errorf("Twilio received %d requests, want %d", n, tc.requests)
			}
		})
	}
}

func TestWorkerRetriesServerErrorsThenSends(t *testing.T) {
	f := startTwilio(t, 500, 500, 500) // then 201
	svc, b := setup(t, f.URL, 8, 100*time.Millisecond)
	workers := river.NewWorkers()
	if err := jobs.Register(workers, jobs.Deps{Notify: svc, JobTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	client, err := jobs.NewClient(b.db, workers, nil, 30*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop river: %v", err)
		}
	})

	id := enqueueSMS(t, svc, b, phone(2))
	// River's leader moves retryable jobs back every few seconds.
	deadline := time.Now().Add(45 * time.Second)
	var o outcome
	for o = outcomeOf(t, b, id); o.status == notify.Pending; o = outcomeOf(t, b, id) {
		if time.Now().After(deadline) {
			t.Fatalf("still pending: %+v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o.status != notify.Sent || o.attempts != 4 || o.lastError.Valid {
		t.Errorf("outcome = %+v, want SENT after 4 attempts", o)
	}
	reqs := f.received()
	if len(reqs) != 4 || reqs[3].to != phone(2) || !strings.Contains(reqs[3].body, "ORD-7K2M9QX4HB") {
		t.Errorf("Twilio received %+v, want 4 requests for %s", reqs, phone(2))
	}
}
