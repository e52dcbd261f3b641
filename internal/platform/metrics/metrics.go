// Package metrics owns the Prometheus registry served on /metrics: GraphQL
// operation counts and latencies, River jobs, outbox backlogs, webhook
// deliveries, the database pool, and the Go runtime.
package metrics

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the service's registry and the instruments other packages feed.
type Metrics struct {
	Registry   *prometheus.Registry
	operations *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	statements *prometheus.HistogramVec
	jobs       *prometheus.CounterVec
	jobRuns    *prometheus.HistogramVec
	webhooks   *prometheus.CounterVec

	mu     sync.Mutex
	combos map[string]bool            // the labels of several root fields that have series of their own
	names  map[string]map[string]bool // per operation label, the operation names admitted (see ObserveOperation)
}

// New returns a registry with the Go runtime, process and pool collectors.
func New(pool *pgxpool.Pool) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphql_operations_total",
			Help: "GraphQL operations served, by root fields and operation name (see ObserveOperation), type and outcome.",
		}, []string{"operation", "operation_name", "type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_operation_duration_seconds",
			Help:    "Time to answer a GraphQL query or mutation, by root fields, operation name and type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "operation_name", "type"}),
		statements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_operation_sql_statements",
			Help:    "SQL statements a GraphQL query or mutation ran (BEGIN/COMMIT not counted), by root fields, operation name and type.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55},
		}, []string{"operation", "operation_name", "type"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "river_jobs_total",
			Help: "River jobs worked by this process, by kind and outcome (completed, retryable, discarded, cancelled, snoozed).",
		}, []string{"kind", "outcome"}),
		jobRuns: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "river_job_duration_seconds",
			Help:    "Time a River job's worker ran, by kind.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_deliveries_total",
			Help: "Outbound webhook delivery attempts, by outcome.",
		}, []string{"outcome"}),
		combos: map[string]bool{},
		names:  map[string]map[string]bool{},
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.operations, m.latency, m.statements, m.jobs, m.jobRuns, m.webhooks,
		newPoolCollector(pool),
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// maxCombinations bounds the labels of operations that select several
// different root fields: any set of the schema's root fields is one, so
// past this many the rest are counted as "multiple".
const maxCombinations = 100

// maxNames bounds the operation names admitted under one operation label,
// and maxNameLen the length of one.
const (
	maxNames   = 10
	maxNameLen = 64
)

// otherName is the operation_name of a named operation whose name was not
// admitted. It is not a GraphQL name, so no operation can be called that.
const otherName = "(other)"

// ObserveOperation records one GraphQL operation: its outcome, its latency
// and the SQL statements it ran. rootFields are the names (not the
// aliases) of the root fields it ran, which validation has checked
// against the schema; name is the operation's name, from the request's
// operationName or else from the document's one operation ("" when it
// has none).
//
// Two labels identify an operation. The operation label is made of its
// root fields, which the schema bounds: an operation of one root field (or
// of one field several times) is always labelled with it, and nothing a
// client sends can take that label away; only the rarer operations that
// combine several root fields ("categories+products") share a bounded
// table. The operation_name label is the client's operation name, which a
// client chooses freely; any bounded table of names is one that junk names
// can fill (205 random names once pushed real operations into an overflow
// label), so a name gets a series of its own only when admitted, and
// admission cannot take anything from a real operation:
//   - a name is admitted under its operation label only, up to maxNames
//     names per label, the first time an operation of that name succeeds
//     without errors (a failing operation admits nothing);
//   - an admitted name is never evicted;
//   - an operation whose name is not admitted is counted with
//     operation_name "(other)" (an anonymous one with ""), still under its
//     root fields.
//
// So junk names, even junk that succeeds (`query J1 { __typename }`), can
// fill only the slots of the root fields they run, and even a client that
// runs real root fields under junk names before the real client does
// leaves that operation counted under its root fields, as before names
// were labelled. The series stay bounded by (root fields + maxCombinations
// + 1) × (maxNames + 2).
func (m *Metrics) ObserveOperation(rootFields []string, name, opType string, d time.Duration, statements int64, failed bool) {
	label, opName := m.labels(rootFields, name, failed)
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.operations.WithLabelValues(label, opName, opType, outcome).Inc()
	if opType != "subscription" {
		m.latency.WithLabelValues(label, opName, opType).Observe(d.Seconds())
		m.statements.WithLabelValues(label, opName, opType).Observe(float64(statements))
	}
}

// labels are the operation and operation_name labels of an operation.
func (m *Metrics) labels(rootFields []string, name string, failed bool) (label, opName string) {
	names := slices.Compact(slices.Sorted(slices.Values(rootFields)))
	m.mu.Lock()
	defer m.mu.Unlock()
	switch len(names) {
	case 0:
		label = "none" // every root field skipped by @skip or @include
	case 1:
		label = names[0]
	default:
		label = m.combo(strings.Join(names, "+"))
	}
	return label, m.admit(label, name, failed)
}

// combo is the label of a combination of root fields. m.mu is held.
func (m *Metrics) combo(combo string) string {
	if m.combos[combo] {
		return combo
	}
	if len(m.combos) >= maxCombinations {
		return "multiple"
	}
	m.combos[combo] = true
	return combo
}

// admit is the operation_name of an operation named name under label
// (see ObserveOperation). m.mu is held.
func (m *Metrics) admit(label, name string, failed bool) string {
	if name == "" {
		return ""
	}
	admitted := m.names[label]
	if admitted[name] {
		return name
	}
	if failed || len(name) > maxNameLen || len(admitted) >= maxNames {
		return otherName
	}
	if admitted == nil {
		admitted = map[string]bool{}
		m.names[label] = admitted
	}
	admitted[name] = true
	return name
}

// Job records a River job that ran for run and ended in outcome, the
// job's state afterwards: "completed", "retryable" (failed, will be
// retried), "discarded" (failed for the last time), "cancelled" or
// "snoozed". Kinds are bounded by the workers the service registers.
func (m *Metrics) Job(kind, outcome string, run time.Duration) {
	m.jobs.WithLabelValues(kind, outcome).Inc()
	m.jobRuns.WithLabelValues(kind).Observe(run.Seconds())
}

// WebhookDelivery counts one outbound webhook delivery attempt by its
// outcome. The outcome must come from the sender's own small fixed set
// (such as "succeeded", "failed", "refused" or "timeout"), never from
// a receiver's response or an endpoint's URL, so that the series stay
// bounded.
func (m *Metrics) WebhookDelivery(outcome string) {
	m.webhooks.WithLabelValues(outcome).Inc()
}

// backlogTimeout bounds the count behind an outbox_pending sample, so
// that a slow database cannot hold a scrape.
const backlogTimeout = time.Second

// Backlog exports outbox_pending{outbox="<outbox>"}, the rows of an outbox
// still waiting for delivery, counted by count at each scrape (so it costs
// nothing between scrapes). A count that fails or takes longer than
// backlogTimeout leaves the sample out of that scrape instead of failing
// it. Every replica reports the same shared number; aggregate with max.
// It panics when outbox is registered twice, a wiring mistake.
func (m *Metrics) Backlog(outbox string, count func(context.Context) (int, error)) {
	m.Registry.MustRegister(&backlogCollector{
		desc: prometheus.NewDesc("outbox_pending", "Outbox rows waiting to be delivered (counted at scrape time).",
			nil, prometheus.Labels{"outbox": outbox}),
		count: count,
	})
}

// backlogCollector counts an outbox's backlog at each scrape.
type backlogCollector struct {
	desc  *prometheus.Desc
	count func(context.Context) (int, error)
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	if n, err := c.count(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
	}
}

// poolCollector exports pgxpool statistics.
type poolCollector struct {
	pool                                  *pgxpool.Pool
	total, idle, acquired, max, acquires  *prometheus.Desc
	waitCount, waitDuration, emptyAcquire *prometheus.Desc
}

func newPoolCollector(pool *pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:         pool,
		total:        d("connections", "Connections open in the pool."),
		idle:         d("idle_connections", "Idle connections in the pool."),
		acquired:     d("acquired_connections", "Connections in use."),
		max:          d("max_connections", "Pool size (DATABASE_MAX_CONNS)."),
		acquires:     d("acquires_total", "Connections acquired from the pool."),
		waitCount:    d("empty_acquires_total", "Acquires that had to wait for a connection."),
		waitDuration: d("acquire_wait_seconds_total", "Time spent waiting for a connection."),
		emptyAcquire: d("canceled_acquires_total", "Acquires canceled while waiting."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.max, c.acquires, c.waitCount, c.waitDuration, c.emptyAcquire} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.waitDuration, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(c.emptyAcquire, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}
