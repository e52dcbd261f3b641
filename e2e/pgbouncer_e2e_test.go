package e2e

// The service behind PgBouncer in transaction pooling mode (issue 20): two
// replicas whose DATABASE_URL is a PgBouncer this test starts, with
// DATABASE_DIRECT_URL for River's listener and the migrations, run a
// checkout to paid across both replicas, and River works the confirmation
// email's job.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/stripetest"
	"commerce/internal/platform/testtool"
)

// pgbouncerBinary returns PgBouncer's path (PGBOUNCER_BIN, else the PATH,
// else where Debian's package puts it), or skips the test when there is
// none (scripts/services.sh installs Debian's pgbouncer for `make test`).
func pgbouncerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PGBOUNCER_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	t.Skip("pgbouncer is not installed: apt-get install pgbouncer (make test does), or set PGBOUNCER_BIN")
	return ""
}

// pgbouncer is a PgBouncer process in transaction pooling mode in front of
// the test database's server.
type pgbouncer struct {
	port int
	db   string
	out  *lockedBuffer
}

// url is the connection string of the test database through PgBouncer.
func (b *pgbouncer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, b.db)
}

// startPgbouncer starts PgBouncer on a free port with at most poolSize
// server connections per database, pool_mode = transaction, and stops it
// when the test ends.
func startPgbouncer(t *testing.T, direct string, poolSize int) *pgbouncer {
	t.Helper()
	bin := pgbouncerBinary(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	pgHost, pgPort, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	// PgBouncer refuses to run as root; as root it is told to switch to the
	// postgres user (or nobody), which must be able to read its files.
	dir, err := os.MkdirTemp("", "commerce-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var runAs []string
	if os.Getuid() == 0 {
		name := "nobody"
		if _, err := user.Lookup("postgres"); err == nil {
			name = "postgres"
		}
		runAs = []string{"-u", name}
	}
	b := &pgbouncer{db: strings.TrimPrefix(u.Path, "/"), out: &lockedBuffer{}}
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return testtool.Retrying(t, "pgbouncer", func() (*pgbouncer, string, error) {
		b.port = testtool.FreePort(t)
		ini := filepath.Join(dir, "pgbouncer.ini")
		conf := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
admin_users = postgres
`, pgHost, pgPort, b.port, userlist, poolSize)
		if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
			return nil, "", err
		}
		b.out = &lockedBuffer{}
		cmd := exec.Command(bin, append(runAs, ini)...)
		cmd.Stdout, cmd.Stderr = b.out, b.out
		if err := cmd.Start(); err != nil {
			return nil, "", err
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			select {
			case <-exited:
				return nil, b.out.String(), fmt.Errorf("pgbouncer exited: %v", cmd.ProcessState)
			default:
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(b.port), time.Second); err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-exited
				return nil, b.out.String(), fmt.Errorf("pgbouncer did not listen within 10s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				t.Logf("---- output of pgbouncer ----\n%s", b.out.String())
			}
		})
		return b, "", nil
	})
}

// connections reads PgBouncer's admin console (which speaks the simple
// protocol only): the client connections to the test database and the
// server connections it holds for them.
func (b *pgbouncer) connections(t *testing.T) (clients, servers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/pgbouncer?sslmode=disable", b.port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgbouncer admin console: %v", err)
	}
	defer conn.Close(ctx)
	count := func(show string) int {
		rows, err := conn.Query(ctx, show)
		if err != nil {
			t.Fatalf("%s: %v", show, err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range rows.FieldDescriptions() {
				if c.Name == "database" && fmt.Sprint(vals[i]) == b.db {
					n++
				}
			}
		}
		return n
	}
	return count("SHOW CLIENTS"), count("SHOW SERVERS")
}

// TestE2EBehindPgbouncer: two replicas behind PgBouncer in transaction mode
// with fewer server connections (8) than the replicas' pools (2 × 10 for
// requests, 2 × 3 for River) create a cart on B, check it out on A and pay
// it by webhook on B; the order reaches PAID, stock and ledger add up, and
// the confirmation email, a River job, reaches the mailbox. PgBouncer's
// admin console shows the replicas as its clients.
func TestE2EBehindPgbouncer(t *testing.T) {
	direct := dbtest.URL(t)
	bouncer := startPgbouncer(t, direct, 8)
	deps := startDeps(t, true)
	env := deps.env(t, map[string]string{
		"DATABASE_URL":        bouncer.url(),
		"DATABASE_DIRECT_URL": direct,
		"DATABASE_MAX_CONNS":  "10",
	})
	a := startServer(t, "bouncer-A", env)
	b := startServer(t, "bouncer-B", env)

	staff := a.staffLogin(t)
	p := a.createProduct(t, staff, "12.50", 5)
	var cart struct {
		CartCreate struct {
			Cart       *struct{ ID string }
			UserErrors []userError
		}
	}
	b.gql(t, "", `mutation($l: [CartLineInput!]) { cartCreate(lines: $l) { cart { id } userErrors { field message code } } }`,
		map[string]any{"l": []any{map[string]any{"productId": p.ID, "quantity": 2}}}, &cart)
	if cart.CartCreate.Cart == nil {
		t.Fatalf("cartCreate on B: %+v", cart.CartCreate.UserErrors)
	}
	email := buyerEmail()
	var co struct{ Checkout checkoutResult }
	a.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"cartId": cart.CartCreate.Cart.ID, "email": email, "shippingAddress": shippingAddress(),
		"idempotencyKey": "e2e-bouncer-" + randHex(8),
	}}, &co)
	if co.Checkout.Order == nil || len(co.Checkout.UserErrors) > 0 {
		t.Fatalf("checkout on A: %+v", co.Checkout.UserErrors)
	}
	o := *co.Checkout.Order
	placed := b.order(t, staff, o.OrderNumber)
	if placed.StripePaymentIntentID == nil {
		t.Fatalf("B sees no payment intent on the order placed on A; events %v", placed.eventTypes())
	}

	total := cents(t, o.Total.Amount)
	obj := stripetest.PaymentIntentObject(*placed.StripePaymentIntentID, o.ID, o.OrderNumber, total, "usd")
	if code := b.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("webhook on B: %d, want 200", code)
	}
	paid := a.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "PROCESSING/PAID", func(o e2eOrder) bool {
		return o.Status == "PROCESSING" && o.PaymentStatus == "PAID"
	})
	if paid.eventCount("CONFIRMATION_QUEUED") != 1 {
		t.Errorf("events %v: want one CONFIRMATION_QUEUED", paid.eventTypes())
	}
	st := a.product(t, staff, p.ID)
	if st.AvailableQuantity != 3 || st.InventoryQuantity != 3 {
		t.Errorf("after payment: available %d, on hand %d; want 3 and 3", st.AvailableQuantity, st.InventoryQuantity)
	}
	checkLedger(t, st)

	// The confirmation is sent by River's notify job, on whichever replica
	// fetched it through PgBouncer.
	waitForMail(t, deps.mail, email, 30*time.Second, o.OrderNumber)

	// Both replicas' pools are PgBouncer's clients (each keeps some idle
	// connections), multiplexed onto at most 8 server connections.
	if clients, servers := bouncer.connections(t); clients < 2 || servers > 8 {
		t.Errorf("PgBouncer has %d client and %d server connections to %s; want at least 2 and at most 8",
			clients, servers, bouncer.db)
	}
	for _, s := range []*e2eServer{a, b} {
		if out := s.out.String(); strings.Contains(out, "prepared statement") || strings.Contains(out, `"level":"ERROR"`) {
			t.Errorf("server %s logged errors behind PgBouncer:\n%s", s.name, out)
		}
	}
}
