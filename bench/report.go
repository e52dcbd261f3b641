package main

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

type randT = mrand.Rand

func addOps(n *int64) { atomic.AddInt64(n, 1) }

// probeResult is the statements of one request type, measured alone.
type probeResult struct {
	Name   string
	Budget string
	Counts []int64
}

func (p probeResult) median() int64 {
	c := append([]int64(nil), p.Counts...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[len(c)/2]
}

// runProbes sends each request type alone, n times, with quiet gaps so
// that River's background work of the previous request is over, and counts
// the statements run while it is in flight (the median of n, which hides
// an occasional River poll landing in the window).
func runProbes(ctx context.Context, c *client, counter stmtCounter, n int) ([]probeResult, error) {
	r := rng(7)
	type probe struct {
		name, budget string
		setup        func() (func() error, error)
	}
	var lastOrder *placedOrder
	probes := []probe{
		{"catalog page (20, no filter)", "≤ 3", func() (func() error, error) {
			return func() error {
				return c.do(ctx, "", productsQuery, map[string]any{"first": 20, "sort": "CREATED_AT", "rev": true}, nil)
			}, nil
		}},
		{"catalog page (category+inStock, PRICE, 2nd page)", "≤ 3", func() (func() error, error) {
			vars := map[string]any{"first": 20, "filter": map[string]any{"category": "Garden", "inStock": true}, "sort": "PRICE"}
			var out productsPage
			if err := c.do(ctx, "", productsQuery, vars, &out); err != nil {
				return nil, err
			}
			if out.Products.PageInfo.EndCursor != nil {
				vars["after"] = *out.Products.PageInfo.EndCursor
			}
			return func() error { return c.do(ctx, "", productsQuery, vars, nil) }, nil
		}},
		{"catalog page with facets and priceRange (category)", "≤ 5", func() (func() error, error) {
			vars := map[string]any{"first": 20, "filter": map[string]any{"category": "Garden"}}
			return func() error { return c.do(ctx, "", productsFacetsQuery, vars, nil) }, nil
		}},
		{"search (RELEVANCE, typo)", "", func() (func() error, error) {
			return func() error {
				return c.do(ctx, "", productsQuery, map[string]any{"first": 20, "filter": map[string]any{"search": "walnut chiar"}, "sort": "RELEVANCE"}, nil)
			}, nil
		}},
		{"product by sku", "", func() (func() error, error) {
			return func() error { return productOp(c)(ctx, 0, r) }, nil
		}},
		{"cartCreate (empty)", "", func() (func() error, error) {
			return func() error { _, err := c.cartCreate(ctx, customerEmail(1), nil); return err }, nil
		}},
		{"cartLinesAdd (3 lines)", "", func() (func() error, error) {
			id, err := c.cartCreate(ctx, customerEmail(2), nil)
			if err != nil {
				return nil, err
			}
			return func() error { return c.cartLinesAdd(ctx, id, randomLines(r, 3)) }, nil
		}},
		{"checkout (3-line cart)", "≤ 10", func() (func() error, error) {
			email := customerEmail(3 + r.IntN(900))
			id, err := c.cartCreate(ctx, email, nil)
			if err != nil {
				return nil, err
			}
			if err := c.cartLinesAdd(ctx, id, randomLines(r, 3)); err != nil {
				return nil, err
			}
			return func() error {
				o, err := c.checkout(ctx, id, nil, email)
				lastOrder = o
				return err
			}, nil
		}},
		{"webhook payment_intent.succeeded (3 lines)", "≤ 8", func() (func() error, error) {
			email := customerEmail(3 + r.IntN(900))
			o, err := c.checkout(ctx, "", randomLines(r, 3), email)
			if err != nil {
				return nil, err
			}
			time.Sleep(1500 * time.Millisecond) // the checkout's own background work
			return func() error { return c.pay(ctx, o) }, nil
		}},
		{"order read (staff)", "", func() (func() error, error) {
			if lastOrder == nil {
				return func() error { return nil }, nil
			}
			return func() error { _, err := c.orderByNumber(ctx, lastOrder.Number); return err }, nil
		}},
	}
	var out []probeResult
	for _, p := range probes {
		pr := probeResult{Name: p.name, Budget: p.budget}
		for range n {
			fn, err := p.setup()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			time.Sleep(1200 * time.Millisecond)
			a, err := counter.Count(ctx)
			if err != nil {
				return nil, err
			}
			if err := fn(); err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			b, err := counter.Count(ctx)
			if err != nil {
				return nil, err
			}
			pr.Counts = append(pr.Counts, b-a)
		}
		logf("probe %-48s statements %v", p.name, pr.Counts)
		out = append(out, pr)
	}
	return out, nil
}

func machine() string {
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:")), "%d", &kb)
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
			}
		}
	}
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					model = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s RAM, %s, load average before the run %s", runtime.NumCPU(), model, mem, runtime.Version(), load)
}

var startLoad = machine()

func printMarkdown(w io.Writer, o *options, e *env, results []result, probes []probeResult, peakKiB, peakSumKiB int64, idleRate float64, took time.Duration) {
	mode := "full"
	if o.quick {
		mode = "quick (QUICK=1)"
	}
	replicas := ""
	if len(e.svcs) > 1 {
		replicas = fmt.Sprintf(", %d service replicas, requests round-robin", len(e.svcs))
	}
	fmt.Fprintf(w, "### Results (%s run, %s, measured %s per workload after %s warm-up, DATABASE_MAX_CONNS=%d%s)\n\n",
		mode, time.Now().Format("2006-01-02 15:04 MST"), o.duration, o.warmup, o.dbConns, replicas)
	fmt.Fprintf(w, "Machine: %s. Total time %s.\n", startLoad, took.Round(time.Second))
	counter := "none (statements n/a)"
	if e.counter != nil {
		counter = fmt.Sprintf("%s, idle rate %.1f statements/s subtracted", e.counter.Name(), idleRate)
	}
	fmt.Fprintf(w, "Statement counter: %s.\n\n", counter)
	fmt.Fprintln(w, "| workload | VUs | ops/s | p50 | p95 | p99 | errors | statements/op | CPU: service / Postgres / stripe-mock+mailpit / bench (cores) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		name, ops := r.Name, fmt.Sprintf("%.1f", r.opsPerSec())
		if r.Name == "subscribers" {
			ops += " events"
		}
		if r.Name == "flash-sale" {
			name += " ✔"
			if r.Failed {
				name = r.Name + " ✘"
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %s | %.2f / %.2f / %.2f / %.2f |\n", name, r.VUs, ops, ms(r.Lat.p50), ms(r.Lat.p95),
			ms(r.Lat.p99), r.Errors, r.stmtsString(), r.ServerCPU, r.PGCPU, r.HelperCPU, r.BenchCPU)
	}
	fmt.Fprintf(w, "\nServer peak RSS (VmHWM): **%.1f MiB**%s\n", float64(peakKiB)/1024, rssSumNote(len(e.svcs), peakSumKiB))
	for _, r := range results {
		for _, x := range r.Extra {
			fmt.Fprintf(w, "\n- %s: %s", r.Name, x)
		}
	}
	fmt.Fprintln(w)
	if len(probes) > 0 {
		fmt.Fprintf(w, "\nStatements per request, each request alone (median of %d; all runs in brackets):\n\n", o.probes)
		fmt.Fprintln(w, "| request | statements | budget | runs |")
		fmt.Fprintln(w, "| --- | ---: | --- | --- |")
		for _, p := range probes {
			fmt.Fprintf(w, "| %s | %d | %s | %v |\n", p.Name, p.median(), p.Budget, p.Counts)
		}
	}
	for _, r := range results {
		if len(r.TopSQL) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nMost frequent statements during %s (%d ops, warm-up included):\n\n", r.Name, r.StmtOps)
		for _, s := range r.TopSQL {
			fmt.Fprintf(w, "    %8d  %.2f/op  %s\n", s.Calls, float64(s.Calls)/float64(max(r.StmtOps, 1)), s.SQL)
		}
	}
}
