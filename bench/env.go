package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// env is everything the benchmark starts: a database, stripe-mock,
// mailpit, the statement counter and the service's replicas.
type env struct {
	root     string // module root
	tmp      string
	bin      string
	adminURL string
	dbName   string
	dbURL    string // direct
	redisURL string
	prefix   string

	stripeURL, smtpAddr string
	webhookSecret       string
	adminEmail, adminPW string

	proxy   *sqlProxy
	pgss    *pgssCounter
	counter stmtCounter

	svcs []*service // the replicas; the first one takes the statement-budget probes

	cleanups []func()
	helpers  []int // pids of stripe-mock and mailpit
}

// helpersCPU returns the CPU seconds of stripe-mock and mailpit.
func (e *env) helpersCPU() float64 {
	t := 0.0
	for _, pid := range e.helpers {
		t += procCPU(pid)
	}
	return t
}

func (e *env) addCleanup(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *env) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// servicesEnv reads KEY=VALUE lines of .data/services.env.
func servicesEnv(root string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(filepath.Join(root, ".data", "services.env"))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func toolPath(root, envName, name string) (string, error) {
	if p := os.Getenv(envName); p != "" {
		return p, nil
	}
	p := filepath.Join(root, "bin", "tools", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: run `make test-tools` or set %s", name, envName)
}

// setup builds the binary, creates and seeds the database and starts the
// helpers. The service's replicas are started by startServices.
func setup(ctx context.Context, o *options) (*env, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	e := &env{root: root, prefix: "bench-" + randHex(4) + ":", webhookSecret: "whsec_bench" + randHex(16),
		adminEmail: "bench-admin@example.com", adminPW: "bench-" + randHex(12)}
	e.tmp, err = os.MkdirTemp("", "commerce-bench-")
	if err != nil {
		return nil, err
	}
	e.addCleanup(func() {
		if !o.keep {
			_ = os.RemoveAll(e.tmp)
		}
	})
	senv := servicesEnv(root)
	e.adminURL = firstNonEmpty(os.Getenv("BENCH_DATABASE_URL"), os.Getenv("TEST_DATABASE_URL"), senv["TEST_DATABASE_URL"])
	e.redisURL = firstNonEmpty(os.Getenv("BENCH_REDIS_URL"), os.Getenv("TEST_REDIS_URL"), senv["REDIS_URL"], senv["TEST_REDIS_URL"])
	if e.adminURL == "" {
		return e, errors.New("no Postgres: run `make services` (writes .data/services.env) or set TEST_DATABASE_URL")
	}

	t0 := time.Now()
	e.bin = filepath.Join(e.tmp, "commerce")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.bin, ".")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return e, fmt.Errorf("go build: %w", err)
	}
	logf("built the service in %s", time.Since(t0).Round(time.Millisecond))

	if err := e.createDB(ctx, o); err != nil {
		return e, err
	}
	t0 = time.Now()
	if out, err := e.runCmd(ctx, e.serviceEnv(e.dbURL, "127.0.0.1:0"), "migrate"); err != nil {
		return e, fmt.Errorf("commerce migrate: %w\n%s", err, out)
	}
	logf("migrated in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := seed(ctx, e.dbURL); err != nil {
		return e, fmt.Errorf("seed: %w", err)
	}
	logf("seeded %d products in %d categories and %d customers in %s", numProducts, len(categories), numCustomers, time.Since(t0).Round(time.Millisecond))

	if err := e.startStripeMock(ctx); err != nil {
		return e, err
	}
	if err := e.startMailpit(ctx); err != nil {
		return e, err
	}
	if e.redisURL != "" {
		e.addCleanup(e.cleanRedis)
	}

	// Statement counting: pg_stat_statements if the server preloads it,
	// else the wire-protocol proxy in front of Postgres.
	if !o.forceProxy {
		if c, err := tryPGSS(ctx, e.dbURL, e.dbName); err == nil {
			e.pgss, e.counter = c, c
			e.addCleanup(c.Close)
		} else {
			logf("pg_stat_statements unavailable (%v); counting statements with the wire-protocol proxy", shortErr(err))
		}
	}
	if e.counter == nil && o.countSQL {
		u, _ := url.Parse(e.dbURL)
		p, err := startSQLProxy(u.Host)
		if err != nil {
			return e, err
		}
		e.proxy, e.counter = p, p
		e.addCleanup(p.Close)
	}
	return e, nil
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}

func (e *env) createDB(ctx context.Context, o *options) error {
	admin, err := pgx.Connect(ctx, e.adminURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(e.adminURL), err)
	}
	defer admin.Close(ctx)
	e.dbName = "bench_" + randHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+e.dbName); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	logf("created database %s", e.dbName)
	e.addCleanup(func() {
		if o.keep {
			logf("kept database %s (-keep)", e.dbName)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, e.adminURL)
		if err != nil {
			logf("drop database %s: %v", e.dbName, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+e.dbName+" WITH (FORCE)"); err != nil {
			logf("drop database %s: %v", e.dbName, err)
		}
	})
	u, err := url.Parse(e.adminURL)
	if err != nil {
		return err
	}
	u.Path = "/" + e.dbName
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	e.dbURL = u.String()
	return nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(database url)"
	}
	return u.Redacted()
}

// serviceEnv is the service's whole environment: nothing is inherited but
// PATH and HOME, so a developer's DATABASE_URL or .env cannot leak in (the
// service runs in the temp directory, which has no .env).
func (e *env) serviceEnv(dbURL, addr string) []string {
	q := "100000000/1s"
	vars := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APP_ENV=production", "LOG_LEVEL=" + firstNonEmpty(os.Getenv("BENCH_LOG_LEVEL"), "warn"),
		"HTTP_ADDR=" + addr, "DATABASE_URL=" + dbURL,
		"AUTH_SECRET=" + randHexStable(), "ADMIN_EMAIL=" + e.adminEmail, "ADMIN_PASSWORD=" + e.adminPW,
		"REDIS_URL=" + e.redisURL, "REDIS_PREFIX=" + e.prefix,
		"PAYMENT_PROVIDER=stripe", "STRIPE_SECRET_KEY=sk_test_bench", "STRIPE_WEBHOOK_SECRET=" + e.webhookSecret,
		"STRIPE_API_BASE=" + e.stripeURL, "PAYMENT_TIMEOUT=1h",
		"EMAIL_SENDER=smtp", "SMTP_URL=smtp://" + e.smtpAddr, "EMAIL_FROM=shop@bench.test",
		"LOW_STOCK_EMAIL=inventory@bench.test", "WAREHOUSE_EMAIL=warehouse@bench.test",
		"STOREFRONT_URL=http://127.0.0.1:3000",
		"STORAGE_URL=file://" + filepath.Join(e.tmp, "uploads"),
		"QUOTA_CREATE_ORDER=" + q, "QUOTA_CREATE_ORDER_IP=" + q, "QUOTA_SEARCH_PRODUCTS=" + q,
		"QUOTA_GRAPHQL=" + q, "QUOTA_LOGIN=" + q, "QUOTA_LOGIN_IP=" + q, "QUOTA_LOGIN_ATTEMPTS_IP=" + q, "QUOTA_LOGIN_ACCOUNT=" + q,
		"QUOTA_REGISTER=" + q, "QUOTA_CART_CREATE=" + q, "QUOTA_ORDER_LOOKUP=" + q, "QUOTA_ORDER_LOOKUP_NUMBER=" + q,
		// Every simulated subscriber connects from this one address.
		"WS_MAX_CONNECTIONS=100000",
		// Checkout and flash-sale shoppers each present an address of
		// their own through X-Forwarded-For (client.shopper), as shoppers
		// behind a load balancer do; every other request comes from the
		// load generator's own address.
		"TRUSTED_PROXIES=127.0.0.1/32",
		// The subscribers workload's changes are thousands of orders from
		// that one address, many of them left unpaid for a while.
		"MAX_UNPAID_UNITS=1000000000",
		"SHUTDOWN_DRAIN=0s", // no load balancer to drain
	}
	if e.stripeURL == "" {
		vars = append(vars[:0:0], filterOut(vars, "PAYMENT_PROVIDER=", "STRIPE_API_BASE=", "EMAIL_SENDER=", "SMTP_URL=")...)
	}
	return vars
}

func filterOut(vars []string, prefixes ...string) []string {
	var out []string
outer:
	for _, v := range vars {
		for _, p := range prefixes {
			if strings.HasPrefix(v, p) {
				continue outer
			}
		}
		out = append(out, v)
	}
	return out
}

var authSecret = randHex(32)

func randHexStable() string { return authSecret }

func (e *env) runCmd(ctx context.Context, envv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = e.tmp
	cmd.Env = envv
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// startHelper runs a helper binary until the benchmark ends.
func (e *env) startHelper(name, bin string, args ...string) (*exec.Cmd, *bytes.Buffer, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.tmp
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", name, err)
	}
	e.helpers = append(e.helpers, cmd.Process.Pid)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.addCleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, &out, nil
}

func waitHTTP(ctx context.Context, u string, user string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if user != "" {
			req.SetBasicAuth(user, "")
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s", u, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer within %s: %v", timeout, last)
}

func (e *env) startStripeMock(ctx context.Context) error {
	bin, err := toolPath(e.root, "STRIPE_MOCK_BIN", "stripe-mock")
	if err != nil {
		return err
	}
	hp, _ := freePort()
	sp, _ := freePort()
	_, out, err := e.startHelper("stripe-mock", bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(hp), "-https-addr", "127.0.0.1:"+strconv.Itoa(sp))
	if err != nil {
		return err
	}
	e.stripeURL = "http://127.0.0.1:" + strconv.Itoa(hp)
	if err := waitHTTP(ctx, e.stripeURL+"/v1/customers", "sk_test_bench", 20*time.Second); err != nil {
		return fmt.Errorf("stripe-mock: %w\n%s", err, out.String())
	}
	return nil
}

func (e *env) startMailpit(ctx context.Context) error {
	bin, err := toolPath(e.root, "MAILPIT_BIN", "mailpit")
	if err != nil {
		return err
	}
	hp, _ := freePort()
	sp, _ := freePort()
	e.smtpAddr = "127.0.0.1:" + strconv.Itoa(sp)
	api := "127.0.0.1:" + strconv.Itoa(hp)
	_, out, err := e.startHelper("mailpit", bin, "--listen", api, "--smtp", e.smtpAddr,
		"--database", filepath.Join(e.tmp, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns",
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--max", "2000")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+api+"/api/v1/info", "", 20*time.Second); err != nil {
		return fmt.Errorf("mailpit: %w\n%s", err, out.String())
	}
	return nil
}

// service is one `commerce serve` process.
type service struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
	base string // http://127.0.0.1:PORT
}

// startServices runs o.replicas `commerce serve` processes with the
// benchmark's configuration, on their own ports, against the same
// database, Redis prefix and helpers: the replicas of one deployment.
// Each runs the API and River (the default role), as replicas of one
// image do; the migrations ran before (`commerce migrate` in setup). They
// start one after another, so that their start-up work (the admin's
// account) does not race.
func (e *env) startServices(ctx context.Context, o *options) error {
	for i := range o.replicas {
		if err := e.startService(ctx, o, i); err != nil {
			return err
		}
	}
	return nil
}

// startService runs replica i (from 0).
func (e *env) startService(ctx context.Context, o *options, i int) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	dbURL := e.dbURL
	if e.proxy != nil {
		u, _ := url.Parse(e.dbURL)
		u.Host = e.proxy.Addr()
		dbURL = u.String()
	}
	envv := append(e.serviceEnv(dbURL, "127.0.0.1:"+strconv.Itoa(port)),
		"DATABASE_MAX_CONNS="+strconv.Itoa(o.dbConns),
		"PUBLIC_BASE_URL=http://127.0.0.1:"+strconv.Itoa(port))
	name := "service.log"
	if i > 0 {
		name = fmt.Sprintf("service-%d.log", i+1)
	}
	s := &service{log: filepath.Join(e.tmp, name), base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	logFile, err := os.Create(s.log)
	if err != nil {
		return err
	}
	envv = append(envv, o.serviceEnv...)
	s.cmd = exec.Command(e.bin, "serve", "--no-migrate")
	s.cmd.Dir = e.tmp
	s.cmd.Env = envv
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	e.svcs = append(e.svcs, s)
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.done) }()
	e.addCleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(25 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	if err := waitHTTP(ctx, s.base+"/readyz", "", 60*time.Second); err != nil {
		tail, _ := os.ReadFile(s.log)
		return fmt.Errorf("service %d did not become ready: %w\n%s", i+1, err, lastLines(string(tail), 20))
	}
	return nil
}

func (e *env) bases() []string {
	out := make([]string, len(e.svcs))
	for i, s := range e.svcs {
		out[i] = s.base
	}
	return out
}

// serviceCPU returns the CPU seconds of every replica together.
func (e *env) serviceCPU() float64 {
	t := 0.0
	for _, s := range e.svcs {
		t += procCPU(s.cmd.Process.Pid)
	}
	return t
}

// peakRSS returns the replicas' peak RSS (VmHWM) in KiB: the largest of
// one process, which is what the per-process target is about, and the
// sum, an upper bound of the deployment's (the peaks need not coincide).
func (e *env) peakRSS() (maxKiB, sumKiB int64) {
	for _, s := range e.svcs {
		v := procStatus(s.cmd.Process.Pid, "VmHWM")
		maxKiB = max(maxKiB, v)
		sumKiB += v
	}
	return maxKiB, sumKiB
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// procStatus reads a field of /proc/<pid>/status in KiB.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}

// procCPU returns the user+system CPU seconds of pid so far.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return math.NaN()
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func (e *env) cleanRedis() {
	opts, err := redis.ParseURL(e.redisURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Del(ctx, keys[:n]...)
		keys = keys[n:]
	}
}

// pgCPU returns the CPU seconds of the Postgres backends serving dbName
// (the pool keeps them alive, so deltas over a workload are meaningful).
func pgCPU(dbName string) float64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return math.NaN()
	}
	total := 0.0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.HasPrefix(cl, []byte("postgres: ")) || !bytes.Contains(cl, []byte(" "+dbName+" ")) {
			continue
		}
		if c := procCPU(pid); !math.IsNaN(c) {
			total += c
		}
	}
	return total
}

// rng returns a per-goroutine random source.
func rng(seed uint64) *mrand.Rand {
	return mrand.New(mrand.NewPCG(seed, uint64(time.Now().UnixNano())))
}
