// Command bench is the load benchmark of the commerce service (`make
// bench`). It builds the real binary, gives it its own database seeded
// with 10,000 products in 50 categories and 1,000 customers, Redis (a
// private key prefix), stripe-mock and mailpit, runs it as a subprocess
// and drives it over HTTP and websocket:
//
//	catalog      products pages of 20 (filters, sort keys, cursors)
//	search       products(filter:{search}, sortKey: RELEVANCE), words and typos
//	product      product(sku)
//	checkout     cartCreate → cartLinesAdd (1–3) → checkout → signed webhook → PAID
//	flash-sale   500 buyers, 3 products, 300 units; verified with SQL afterwards
//	subscribers  1,000 orderUpdates websockets while orders change at a fixed rate
//
// It prints one line per workload (ops/s, p50/p95/p99, errors, SQL
// statements per operation) and the server's peak RSS, then a Markdown
// table. It exits 1 when the flash sale's correctness checks fail.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick       bool
	vus         int
	duration    time.Duration
	warmup      time.Duration
	only        map[string]bool
	keep        bool
	dbConns     int
	countSQL    bool
	forceProxy  bool
	subscribers int
	subRate     float64
	buyers      int
	probes      int
	topSQL      int
	serviceEnv  multiFlag
	cpuProfile  string
	replicas    int
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

var workloadOrder = []string{"catalog", "search", "product", "checkout", "flash-sale", "subscribers"}

// defaultVUs are the concurrency levels (full run) and the smoke
// run's.
var defaultVUs = map[string][2]int{
	"catalog": {64, 16}, "search": {64, 16}, "product": {64, 16}, "checkout": {32, 8},
}

func main() {
	o := &options{}
	var only string
	flag.BoolVar(&o.quick, "quick", os.Getenv("QUICK") == "1", "smoke run: every workload for a few seconds with fewer VUs (also QUICK=1)")
	flag.IntVar(&o.vus, "vus", 0, "virtual users of catalog/search/product/checkout (0: 64/64/64/32, quick 16/16/16/8)")
	flag.DurationVar(&o.duration, "duration", 0, "measured time per workload (default 30s, quick 3s)")
	flag.DurationVar(&o.warmup, "warmup", 0, "unmeasured warm-up per workload (default 3s, quick 1s)")
	flag.StringVar(&only, "only", "", "comma-separated workloads to run (default all): "+strings.Join(workloadOrder, ","))
	flag.BoolVar(&o.keep, "keep", false, "keep the database and temp directory")
	flag.IntVar(&o.dbConns, "db-conns", 16, "DATABASE_MAX_CONNS of the service")
	flag.BoolVar(&o.countSQL, "count-sql", true, "count statements (pg_stat_statements, else a wire-protocol proxy in front of Postgres)")
	flag.BoolVar(&o.forceProxy, "sql-proxy", false, "count with the proxy even when pg_stat_statements is available")
	flag.IntVar(&o.subscribers, "subscribers", 0, "websocket subscribers (default 1000, quick 100)")
	flag.Float64Var(&o.subRate, "sub-rate", 50, "order status changes per second during the subscribers workload")
	flag.IntVar(&o.buyers, "buyers", 500, "flash-sale buyers (3 products, 300 units)")
	flag.IntVar(&o.probes, "probes", -1, "statement-budget probes per request type (default 7, quick 3; 0 skips)")
	flag.IntVar(&o.topSQL, "top-sql", 0, "print the N most frequent statements of each workload")
	flag.Var(&o.serviceEnv, "service-env", "extra KEY=VALUE for the service's environment (repeatable), e.g. GOMEMLIMIT=100MiB")
	flag.IntVar(&o.replicas, "replicas", 1, "service processes on their own ports against the same database and Redis; requests go to them in turn (the probes to the first)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator itself to this file (the service's: -service-env PPROF_ADDR=127.0.0.1:6060)")
	flag.Parse()
	if o.replicas < 1 {
		fmt.Fprintln(os.Stderr, "bench: -replicas must be at least 1")
		os.Exit(2)
	}
	if o.duration == 0 {
		o.duration = pick(o.quick, 3*time.Second, 30*time.Second)
	}
	if o.warmup == 0 {
		o.warmup = pick(o.quick, time.Second, 3*time.Second)
	}
	if o.subscribers == 0 {
		o.subscribers = pick(o.quick, 100, 1000)
	}
	if o.probes < 0 {
		o.probes = pick(o.quick, 3, 7)
	}
	o.only = map[string]bool{}
	for _, w := range strings.Split(only, ",") {
		if w = strings.TrimSpace(w); w != "" {
			if !slices.Contains(workloadOrder, w) {
				fmt.Fprintf(os.Stderr, "bench: unknown workload %q (have %s)\n", w, strings.Join(workloadOrder, ","))
				os.Exit(2)
			}
			o.only[w] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile, err := startCPUProfile(o.cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	code, err := run(ctx, o)
	stopProfile()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// startCPUProfile profiles this process into path until the returned
// function is called; with no path it does nothing. The load generator
// shares the machine's cores with the service, so its own cost matters.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func pick[T any](quick bool, q, full T) T {
	if quick {
		return q
	}
	return full
}

func (o *options) wants(w string) bool { return len(o.only) == 0 || o.only[w] }

func (o *options) vusFor(w string) int {
	if o.vus > 0 {
		return o.vus
	}
	return pick(o.quick, defaultVUs[w][1], defaultVUs[w][0])
}

func run(ctx context.Context, o *options) (int, error) {
	started := time.Now()
	e, err := setup(ctx, o)
	defer func() {
		if e != nil {
			e.close()
		}
	}()
	if err != nil {
		return 1, err
	}
	if err := e.startServices(ctx, o); err != nil {
		return 1, err
	}
	for i, s := range e.svcs {
		logf("service %d of %d: pid %d on %s (DATABASE_MAX_CONNS=%d, log %s)", i+1, len(e.svcs), s.cmd.Process.Pid, s.base, o.dbConns, s.log)
	}
	maxConns := 0
	for _, w := range workloadOrder {
		if o.wants(w) && w != "flash-sale" && w != "subscribers" {
			maxConns = max(maxConns, o.vusFor(w))
		}
	}
	c := newClient(e.bases(), max(maxConns, o.buyers, 64), e.webhookSecret)
	if err := c.staffLogin(ctx, e.adminEmail, e.adminPW); err != nil {
		return 1, fmt.Errorf("staff login: %w", err)
	}

	// Idle statement rate (River's polling, the hub), subtracted from each
	// workload's count.
	var idleRate float64
	if e.counter != nil {
		idleRate = measureIdle(ctx, e.counter, pick(o.quick, 2*time.Second, 5*time.Second))
		logf("statements counted by %s; idle rate %.1f/s", e.counter.Name(), idleRate)
		_ = e.counter.Top(ctx, 0) // reset the per-statement baseline
	}

	var probes []probeResult
	if e.counter != nil && o.probes > 0 {
		probes, err = runProbes(ctx, c.pinned(0), e.counter, o.probes)
		if err != nil {
			return 1, fmt.Errorf("probes: %w", err)
		}
		_ = e.counter.Top(ctx, 0)
	}

	var results []result
	failed := false
	for _, w := range workloadOrder {
		if !o.wants(w) || ctx.Err() != nil {
			continue
		}
		logf("running %s …", w)
		res, err := runWorkload(ctx, w, o, c, e, idleRate)
		if err != nil {
			return 1, fmt.Errorf("%s: %w", w, err)
		}
		if o.topSQL > 0 && e.counter != nil {
			res.TopSQL = e.counter.Top(ctx, o.topSQL)
		} else if e.counter != nil {
			_ = e.counter.Top(ctx, 0)
		}
		res.RSSKiB, _ = e.peakRSS()
		fmt.Println(res.line())
		for _, x := range res.Extra {
			fmt.Println("    " + x)
		}
		if res.Failed {
			failed = true
		}
		results = append(results, res)
	}
	if ctx.Err() != nil {
		return 1, ctx.Err()
	}
	peak, peakSum := e.peakRSS()
	fmt.Printf("server peak RSS (VmHWM): %.1f MiB%s\n", float64(peak)/1024, rssSumNote(len(e.svcs), peakSum))
	for _, s := range e.svcs {
		errLines, samples := serviceErrors(s.log)
		if errLines > 0 {
			fmt.Printf("service log %s: %d ERROR lines, e.g.:\n", filepath.Base(s.log), errLines)
			for _, l := range samples {
				fmt.Println("    " + l)
			}
		}
	}
	fmt.Println()
	printMarkdown(os.Stdout, o, e, results, probes, peak, peakSum, idleRate, time.Since(started))
	if failed {
		fmt.Println("\nFAIL: flash-sale correctness checks failed")
		return 1, nil
	}
	return 0, nil
}

// postgresCost is what a workload cost Postgres, warm-up included: the
// capacity model of docs/scaling.md divides Postgres's cores by these.
func postgresCost(stmts, ops, pgCPUSeconds float64, wall time.Duration) string {
	return fmt.Sprintf("postgres: %.0f statements/s, %.2f ms of Postgres CPU per operation, %.0f µs per statement",
		stmts/wall.Seconds(), pgCPUSeconds/ops*1000, pgCPUSeconds/stmts*1e6)
}

// rssSumNote qualifies the peak RSS of several replicas: the peak is the
// largest process's, and the sum of the peaks follows.
func rssSumNote(replicas int, sumKiB int64) string {
	if replicas == 1 {
		return ""
	}
	return fmt.Sprintf(" (the largest of %d replicas; their peaks sum to %.1f MiB)", replicas, float64(sumKiB)/1024)
}

func measureIdle(ctx context.Context, c stmtCounter, d time.Duration) float64 {
	time.Sleep(500 * time.Millisecond)
	a, err := c.Count(ctx)
	if err != nil {
		return 0
	}
	t0 := time.Now()
	time.Sleep(d)
	b, err := c.Count(ctx)
	if err != nil {
		return 0
	}
	return float64(b-a) / time.Since(t0).Seconds()
}

func runWorkload(ctx context.Context, w string, o *options, c *client, e *env, idleRate float64) (result, error) {
	res := result{Name: w, Stmts: math.NaN()}
	var c0 int64
	if e.counter != nil {
		c0, _ = e.counter.Count(ctx)
	}
	cpu0, pg0, self0, h0, t0 := e.serviceCPU(), pgCPU(e.dbName), procCPU(os.Getpid()), e.helpersCPU(), time.Now()
	var s *samples
	var totalOps int64
	var pgCost string
	finishStmts := func() {
		wall := time.Since(t0)
		res.ServerCPU = (e.serviceCPU() - cpu0) / wall.Seconds()
		res.PGCPU = (pgCPU(e.dbName) - pg0) / wall.Seconds()
		res.BenchCPU = (procCPU(os.Getpid()) - self0) / wall.Seconds()
		res.HelperCPU = (e.helpersCPU() - h0) / wall.Seconds()
		if e.counter != nil && totalOps > 0 {
			c1, err := e.counter.Count(ctx)
			if err == nil {
				stmts := float64(c1-c0) - idleRate*wall.Seconds()
				res.Stmts = stmts / float64(totalOps)
				pgCost = postgresCost(stmts, float64(totalOps), res.PGCPU*wall.Seconds(), wall)
			}
		}
	}
	counting := func(op opFunc) opFunc {
		return func(ctx context.Context, vu int, r *randT) error {
			err := op(ctx, vu, r)
			if err == nil {
				addOps(&totalOps)
			}
			return err
		}
	}
	switch w {
	case "catalog", "search", "product", "checkout":
		res.VUs = o.vusFor(w)
		var op opFunc
		var steps stepStats
		switch w {
		case "catalog":
			op = catalogOp(c)
		case "search":
			op = searchOp(c)
		case "product":
			op = productOp(c)
		case "checkout":
			op = func(ctx context.Context, vu int, r *randT) error {
				return checkoutFlow(ctx, c.shopper(vu), r, 1+r.IntN(3), steps.add)
			}
		}
		var from, until time.Time
		s, from, until = runClosed(ctx, res.VUs, o.warmup, o.duration, counting(op))
		res.Duration = until.Sub(from)
		finishStmts()
		if w == "checkout" {
			res.Extra = append(res.Extra, steps.summary())
		}
	case "flash-sale":
		res.VUs = o.buyers
		var elapsed time.Duration
		var fr *flashResult
		var err error
		s, elapsed, fr, err = runFlashSale(ctx, c, e.dbURL, o.buyers)
		if err != nil {
			return res, err
		}
		res.Duration = elapsed
		totalOps = int64(fr.placed + fr.refused)
		finishStmts()
		res.Extra = append(res.Extra, fmt.Sprintf("orders placed %d, refused INSUFFICIENT_STOCK %d, paid %d, other errors %d, 5xx %d",
			fr.placed, fr.refused, fr.paid, s.errCount(), fr.fiveXX))
		if len(fr.problems) == 0 {
			res.Extra = append(res.Extra, "verified: no negative stock, no oversell, ledger sums = available and on hand for every variant, orders = reserved + sold, no lost orders")
		} else {
			res.Failed = true
			for _, p := range fr.problems {
				res.Extra = append(res.Extra, "FAIL: "+p)
			}
		}
	case "subscribers":
		res.VUs = o.subscribers
		var sr *subsResult
		var err error
		s, sr, err = runSubscribers(ctx, c, o.subscribers, o.subRate, o.warmup, o.duration)
		if err != nil {
			return res, err
		}
		res.Duration = o.duration
		totalOps = sr.changes
		finishStmts()
		res.Extra = append(res.Extra, fmt.Sprintf("%d/%d connected, %d order changes (%.1f/s launched, %.1f/s succeeded, target %.0f/s), events delivered %d of %d expected, %d dropped connections; latency = receipt − event timestamp (the order row's updated_at, set in the committing transaction)",
			sr.connected, sr.subscribers, sr.changes, sr.launchedRate, sr.achievedRate, o.subRate, sr.delivered, sr.expected, sr.dropped),
			sr.runtime)
		if sr.expected > sr.delivered {
			for range min(sr.expected-sr.delivered, 1<<20) {
				s.errs["missed-event"]++
			}
		}
	}
	res.Ops = len(s.durs) // for subscribers: the events delivered while recording
	res.StmtOps = totalOps
	res.Lat = s.percentiles()
	res.Errors = s.errCount()
	res.ErrKinds = s.errs
	res.Examples = s.examples
	for k, v := range s.examples {
		res.Extra = append(res.Extra, fmt.Sprintf("error %s ×%d, e.g. %s", k, s.errs[k], v))
	}
	sort.Strings(res.Extra[min(len(res.Extra), 2):])
	if pgCost != "" {
		res.Extra = append(res.Extra, pgCost)
	}
	return res, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func (r result) stmtsString() string {
	if math.IsNaN(r.Stmts) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", r.Stmts)
}

func (r result) line() string {
	unit := "ops/s"
	if r.Name == "subscribers" {
		unit = "events/s"
	}
	return fmt.Sprintf("%-11s vus=%-4d %s=%-8.1f p50=%-8s p95=%-8s p99=%-8s errors=%-4d stmts/op=%-5s cpu(service/pg/helpers/bench)=%.2f/%.2f/%.2f/%.2f rss-hwm=%.1fMiB",
		r.Name, r.VUs, unit, r.opsPerSec(), ms(r.Lat.p50), ms(r.Lat.p95), ms(r.Lat.p99), r.Errors, r.stmtsString(),
		r.ServerCPU, r.PGCPU, r.HelperCPU, r.BenchCPU, float64(r.RSSKiB)/1024)
}

// serviceErrors counts the service's ERROR log lines and returns a few
// distinct messages.
func serviceErrors(path string) (int, []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, nil
	}
	n := 0
	seen := map[string]bool{}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.Contains(l, `"level":"ERROR"`) {
			continue
		}
		n++
		var m struct {
			Msg string `json:"msg"`
			Err string `json:"err"`
			E2  string `json:"error"`
		}
		_ = json.Unmarshal([]byte(l), &m)
		key := m.Msg + ": " + m.Err + m.E2
		if !seen[key] && len(out) < 5 {
			seen[key] = true
			out = append(out, truncate(key, 300))
		}
	}
	return n, out
}
