// Package metrics owns the Prometheus registry served on /metrics: GraphQL
// operation counts and latencies, the database pool, and the Go runtime.
package metrics

import (
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

	mu     sync.Mutex
	combos map[string]bool // the labels of several root fields that have series of their own
}

// New returns a registry with the Go runtime, process and pool collectors.
func New(pool *pgxpool.Pool) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphql_operations_total",
			Help: "GraphQL operations served, by root fields (see ObserveOperation), type and outcome.",
		}, []string{"operation", "type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_operation_duration_seconds",
			Help:    "Time to answer a GraphQL query or mutation, by root fields and type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation", "type"}),
		statements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "graphql_operation_sql_statements",
			Help:    "SQL statements a GraphQL query or mutation ran (BEGIN/COMMIT not counted), by root fields and type.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55},
		}, []string{"operation", "type"}),
		combos: map[string]bool{},
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.operations, m.latency, m.statements,
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

// ObserveOperation records one GraphQL operation: its outcome, its latency
// and the SQL statements it ran. rootFields are the names (not the
// aliases) of the root fields it ran, which validation has checked
// against the schema.
//
// The operation label is made of those names, not of the client's
// operation name: a client chooses any name it likes, so any bounded table
// of names is one that junk names can fill, pushing real operations into
// an overflow label (205 random names did exactly that). A root field name
// is bounded by the schema, so an operation of one root field (or of one
// field several times) is always labelled with it, and nothing a client
// sends can take that label away; only the rarer operations that combine
// several root fields ("categories+products") share a bounded table.
func (m *Metrics) ObserveOperation(rootFields []string, opType string, d time.Duration, statements int64, failed bool) {
	name := m.label(rootFields)
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.operations.WithLabelValues(name, opType, outcome).Inc()
	if opType != "subscription" {
		m.latency.WithLabelValues(name, opType).Observe(d.Seconds())
		m.statements.WithLabelValues(name, opType).Observe(float64(statements))
	}
}

// label is the operation label of an operation's root field names.
func (m *Metrics) label(rootFields []string) string {
	names := slices.Compact(slices.Sorted(slices.Values(rootFields)))
	switch len(names) {
	case 0:
		return "none" // every root field skipped by @skip or @include
	case 1:
		return names[0]
	}
	combo := strings.Join(names, "+")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.combos[combo] {
		return combo
	}
	if len(m.combos) >= maxCombinations {
		return "multiple"
	}
	m.combos[combo] = true
	return combo
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
