package e2e

// End-to-end tests of issue 21's jobs half: River queues by concern (a
// hung SMTP server cannot delay payment timeouts), and jobs running at a
// SIGKILL, including a send whose success the process never recorded,
// run again within their timeout plus a margin. They reuse the harness of
// e2e_test.go and fulfillment_e2e_test.go and add helpers named rj….

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"commerce/internal/jobs"
	"commerce/internal/notify"
)

// rjMode is how the SMTP fake misbehaves.
type rjMode int

const (
	// rjHung accepts connections and never says a word, not even the
	// greeting: a provider that hangs.
	rjHung rjMode = iota
	// rjSwallow speaks SMTP, takes the whole message and never answers
	// its final dot: the message is delivered, the sender never learns it.
	rjSwallow
)

// rjSMTP is an SMTP endpoint on 127.0.0.1 that misbehaves as its mode
// says. It records each connection and each message it takes. Call
// shutdown in a cleanup registered after the server's, so that a stopping
// server's senders fail at once instead of waiting out their timeout; it
// also runs on the fake's own cleanup.
type rjSMTP struct {
	addr string
	mode rjMode

	mu       sync.Mutex
	conns    []net.Conn
	messages []string // raw messages taken (rjSwallow)
	shutdown func()   // stops accepting and closes every connection; idempotent
}

func rjStartSMTP(t *testing.T, mode rjMode) *rjSMTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &rjSMTP{addr: l.Addr().String(), mode: mode}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			if mode == rjSwallow {
				go f.swallow(c)
			}
		}
	}()
	var once sync.Once
	f.shutdown = func() {
		once.Do(func() {
			_ = l.Close()
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, c := range f.conns {
				_ = c.Close()
			}
		})
	}
	t.Cleanup(f.shutdown)
	return f
}

// url is the fake's SMTP_URL.
func (f *rjSMTP) url() string { return "smtp://" + f.addr }

// connections is how many connections the fake accepted.
func (f *rjSMTP) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// messagesFor returns the messages taken whose X-Notification-ID is id.
func (f *rjSMTP) messagesFor(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.messages {
		if strings.Contains(m, notify.HeaderNotificationID+": "+id) {
			n++
		}
	}
	return n
}

// swallow plays an SMTP server that takes one message and then goes
// silent.
func (f *rjSMTP) swallow(c net.Conn) {
	r := bufio.NewReader(c)
	reply := func(s string) bool { _, err := c.Write([]byte(s + "\r\n")); return err == nil }
	if !reply("220 rj.test ESMTP") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250 rj.test")
		case strings.HasPrefix(cmd, "DATA"):
			reply("354 end with <CRLF>.<CRLF>")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			f.mu.Lock()
			f.messages = append(f.messages, msg.String())
			f.mu.Unlock()
			return // the message is delivered; its 250 never comes
		case strings.HasPrefix(cmd, "QUIT"):
			reply("221 bye")
			return
		default: // MAIL, RCPT, RSET, NOOP
			reply("250 ok")
		}
	}
}

// rjNotification is a notifications row and the state of its delivery jobs.
type rjNotification struct {
	ID       string
	Status   string
	Attempts int
	Jobs     string // "state/attempt" of each delivery job, oldest first
	Live     int    // jobs available, scheduled, running, retryable or pending
}

// rjNotifications returns the notifications to recipient, oldest first.
func rjNotifications(t *testing.T, c *pgx.Conn, recipient string) []rjNotification {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, `
		SELECT n.id::text, n.status, n.attempts,
		       coalesce(string_agg(j.state::text || '/' || j.attempt, ',' ORDER BY j.id), ''),
		       count(j.id) FILTER (WHERE j.state IN ('available', 'scheduled', 'running', 'retryable', 'pending'))
		FROM notifications n
		LEFT JOIN river_job j ON j.kind = 'notify-deliver' AND j.args->>'notification_id' = n.id::text
		WHERE n.recipient = $1
		GROUP BY n.id ORDER BY n.seq`, recipient)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[rjNotification])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestE2EHungSMTPDoesNotDelayPaymentTimeouts: an SMTP server that accepts
// connections and never answers holds every worker of the notify queue
// while low-stock alerts and cancellation emails pile up; the unpaid
// orders are still cancelled within seconds of their PAYMENT_TIMEOUT,
// because payment timeouts have a queue of their own. (With one shared
// queue they waited for the hung attempts: 92 s late in the report.)
func TestE2EHungSMTPDoesNotDelayPaymentTimeouts(t *testing.T) {
	const (
		orders         = 12 // more low-stock alerts than the notify queue has workers (10)
		paymentTimeout = 4 * time.Second
		// slack is how late a cancellation may be: River's polling and a busy
		// machine, but far less than a hung attempt (20 s).
		slack = 8 * time.Second
	)
	deps := startDeps(t, true) // Stripe: orders stay unpaid
	smtp := rjStartSMTP(t, rjHung)
	stock := "rj-stock-" + randHex(4) + "@example.com"
	srv := startServer(t, "hung-smtp", deps.env(t, map[string]string{
		"SMTP_URL": smtp.url(), "LOW_STOCK_EMAIL": stock, "PAYMENT_TIMEOUT": paymentTimeout.String(),
	}))
	t.Cleanup(smtp.shutdown)
	staff := srv.staffLogin(t)
	var products []e2eProduct
	for range orders {
		products = append(products, srv.createProductWithThreshold(t, staff, "7.00", 10, 5))
	}
	var ids []string
	for _, p := range products {
		o := srv.checkout(t, buyerEmail(), "rj-hung-"+randHex(8), map[string]int{p.ID: 6}).Order // crosses the threshold
		ids = append(ids, o.ID)
	}

	db := fulConnect(t)
	deadline := time.Now().Add(paymentTimeout + slack + 30*time.Second)
	type cancelled struct {
		Number string
		Late   float64 // seconds past the payment timeout
	}
	var got []cancelled
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := db.Query(ctx, `
			SELECT o.order_number, extract(epoch FROM e.created_at - o.created_at)::float8 - $2
			FROM orders o JOIN order_events e ON e.order_id = o.id AND e.type = 'CANCELLED'
			WHERE o.id = ANY($1::uuid[]) ORDER BY o.created_at`, ids, paymentTimeout.Seconds())
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		got, err = pgx.CollectRows(rows, pgx.RowToStructByPos[cancelled])
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == orders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders cancelled within %s of checkout: %+v", len(got), orders, paymentTimeout+slack+30*time.Second, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range got {
		if c.Late > slack.Seconds() {
			t.Errorf("order %s cancelled %.1fs after its payment timeout, want at most %s", c.Number, c.Late, slack)
		}
	}
	t.Logf("cancellations past the timeout (s): %+v", got)

	// The notifications piled up behind the hung server meanwhile.
	pending := 0
	for _, n := range rjNotifications(t, db, stock) {
		if n.Status == string(notify.Pending) {
			pending++
		}
	}
	if pending < 10 || smtp.connections() < 10 {
		t.Errorf("%d low-stock alerts pending and %d connections to the hung server; want the notify queue's 10 workers held",
			pending, smtp.connections())
	}
}

// TestE2EJobRunningAtSIGKILLRunsAgain: a delivery job is running when its
// process is killed: (hung) waiting on an SMTP server that never answers,
// or (swallowed) after the server took the message but before its reply,
// so the send succeeded and the row never heard. After a restart River
// rescues the job once the rescue window (twice JOB_TIMEOUT) has passed,
// not after its default hour, and runs it again: the notification ends
// SENT, at worst sent twice.
func TestE2EJobRunningAtSIGKILLRunsAgain(t *testing.T) {
	const jobTimeout = 3 * time.Second
	// margin covers what comes on top of the rescue window: the killed
	// leader's lease (15 s), River's maintenance ticks (5 s), the restart
	// and a busy machine.
	const margin = 40 * time.Second
	for _, tc := range []struct {
		name string
		mode rjMode
	}{
		{"hung", rjHung},
		{"swallowed", rjSwallow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := startDeps(t, false)
			fake := rjStartSMTP(t, tc.mode)
			stock := "rj-kill-" + randHex(4) + "@example.com"
			env := map[string]string{"LOW_STOCK_EMAIL": stock, "JOB_TIMEOUT": jobTimeout.String()}
			env["SMTP_URL"] = fake.url()
			first := startServer(t, "before-kill", deps.env(t, env))
			t.Cleanup(fake.shutdown)
			staff := first.staffLogin(t)
			p := first.createProductWithThreshold(t, staff, "7.00", 10, 5)
			first.checkout(t, buyerEmail(), "rj-kill-"+randHex(8), map[string]int{p.ID: 6})

			db := fulConnect(t)
			n := rjWaitNotification(t, db, stock, 20*time.Second, func(n rjNotification) bool {
				if tc.mode == rjSwallow {
					return fake.messagesFor(n.ID) == 1
				}
				// The running attempt is counted, so its send has begun.
				return n.Attempts > 0 && n.Jobs == fmt.Sprintf("running/%d", n.Attempts)
			})
			first.kill()
			killed := time.Now()
			attempts := n.Attempts
			if n = rjNotifications(t, db, stock)[0]; n.Status != string(notify.Pending) || n.Attempts != attempts ||
				n.Jobs != fmt.Sprintf("running/%d", attempts) {
				t.Fatalf("at the kill: %+v, want PENDING with its attempt %d counted and running", n, attempts)
			}

			env["SMTP_URL"] = deps.mail.SMTPURL()
			startServer(t, "after-kill", deps.env(t, env))
			bound := jobs.RescueAfter(jobTimeout) + margin
			n = rjWaitNotification(t, db, stock, bound, func(n rjNotification) bool { return n.Status != string(notify.Pending) })
			t.Logf("sent again %s after the kill", time.Since(killed).Round(100*time.Millisecond))
			n = rjWaitNotification(t, db, stock, 10*time.Second, func(n rjNotification) bool { return n.Live == 0 })
			if want := fmt.Sprintf("completed/%d", attempts+1); n.Status != string(notify.Sent) || n.Attempts != attempts+1 || n.Jobs != want {
				t.Errorf("after the restart: %+v, want SENT by attempt %d of the same job", n, attempts+1)
			}
			waitForMail(t, deps.mail, stock, 20*time.Second, "Low stock")
			if tc.mode == rjSwallow && fake.messagesFor(n.ID) != 1 {
				t.Errorf("the first server delivered %d copies, want 1", fake.messagesFor(n.ID))
			}
		})
	}
}

// rjWaitNotification waits for the one notification to recipient to
// satisfy cond and returns it.
func rjWaitNotification(t *testing.T, c *pgx.Conn, recipient string, timeout time.Duration, cond func(rjNotification) bool) rjNotification {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ns := rjNotifications(t, c, recipient)
		if len(ns) > 1 {
			t.Fatalf("%d notifications to %s, want 1: %+v", len(ns), recipient, ns)
		}
		if len(ns) == 1 && cond(ns[0]) {
			return ns[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification to %s not as expected within %s: %+v", recipient, timeout, ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
