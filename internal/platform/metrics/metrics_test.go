package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Operations are labelled by their root fields, which the schema bounds:
// an operation of one root field always keeps its own label, however many
// combinations of root fields came before; combinations past
// maxCombinations are counted as "multiple".
func TestOperationLabels(t *testing.T) {
	m := New(nil)
	for i := range maxCombinations + 50 {
		m.ObserveOperation([]string{"categories", fmt.Sprintf("f%d", i)}, "", "query", time.Millisecond, 2, false)
	}
	m.ObserveOperation([]string{"products"}, "", "query", time.Millisecond, 3, false)
	m.ObserveOperation([]string{"products", "products"}, "", "query", time.Millisecond, 3, true)
	m.ObserveOperation([]string{"f0", "categories"}, "", "query", time.Millisecond, 1, false)
	m.ObserveOperation(nil, "", "query", time.Millisecond, 0, false)

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"multiple", "", "query", "ok"}, 50},
		{[]string{"products", "", "query", "ok"}, 1},
		{[]string{"products", "", "query", "error"}, 1},
		{[]string{"categories+f0", "", "query", "ok"}, 2},
		{[]string{"none", "", "query", "ok"}, 1},
	} {
		if got := counter(t, m.operations.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("operations %v: %v, want %v", c.labels, got, c.want)
		}
	}
	// The combinations, "multiple", "products" (ok and error), "none".
	if n := series(m.operations); n != maxCombinations+4 {
		t.Errorf("operation series: %d, want %d", n, maxCombinations+4)
	}
}

// An operation's name gets a series of its own once it has succeeded,
// under its root fields only, up to maxNames names per root fields; junk
// names, also junk that succeeds, cannot take a real name's series away
// nor reach another root field's label.
func TestOperationNames(t *testing.T) {
	m := New(nil)
	ok := func(fields []string, name string) {
		m.ObserveOperation(fields, name, "query", time.Millisecond, 1, false)
	}
	ok([]string{"products"}, "StorefrontProducts")
	for i := range 205 {
		ok([]string{"__typename"}, fmt.Sprintf("J%d", i))               // junk that succeeds
		m.ObserveOperation([]string{"products"}, fmt.Sprintf("F%d", i), // junk that fails
			"query", time.Millisecond, 1, true)
	}
	ok([]string{"__typename"}, "products") // a junk name that is a root field's
	ok([]string{"products"}, "StorefrontProducts")
	m.ObserveOperation([]string{"products"}, "StorefrontProducts", "query", time.Millisecond, 1, true)
	ok([]string{"products"}, strings.Repeat("L", maxNameLen+1))
	// A name that failed first is admitted when it succeeds.
	m.ObserveOperation([]string{"categories"}, "Menu", "query", time.Millisecond, 1, true)
	ok([]string{"categories"}, "Menu")

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"products", "StorefrontProducts", "query", "ok"}, 2},
		{[]string{"products", "StorefrontProducts", "query", "error"}, 1},
		{[]string{"products", otherName, "query", "error"}, 205},
		{[]string{"products", otherName, "query", "ok"}, 1},
		{[]string{"__typename", "J0", "query", "ok"}, 1},
		{[]string{"__typename", fmt.Sprintf("J%d", maxNames-1), "query", "ok"}, 1},
		{[]string{"__typename", otherName, "query", "ok"}, 205 - maxNames + 1},
		{[]string{"categories", otherName, "query", "error"}, 1},
		{[]string{"categories", "Menu", "query", "ok"}, 1},
	} {
		if got := counter(t, m.operations.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("operations %v: %v, want %v", c.labels, got, c.want)
		}
	}
	// __typename: maxNames names and (other); products: its name ok and
	// error, (other) ok and error; categories: (other) and Menu.
	if n := series(m.operations); n != maxNames+1+4+2 {
		t.Errorf("operation series: %d, want %d", n, maxNames+1+4+2)
	}
}

// Jobs are counted by kind and outcome, their run time by kind.
func TestJobs(t *testing.T) {
	m := New(nil)
	m.Job("notify_deliver", "completed", 20*time.Millisecond)
	m.Job("notify_deliver", "retryable", time.Second)
	m.Job("notify_deliver", "completed", 30*time.Millisecond)
	if got := counter(t, m.jobs.WithLabelValues("notify_deliver", "completed")); got != 2 {
		t.Errorf("completed: %v, want 2", got)
	}
	if got := counter(t, m.jobs.WithLabelValues("notify_deliver", "retryable")); got != 1 {
		t.Errorf("retryable: %v, want 1", got)
	}
	var h dto.Metric
	if err := m.jobRuns.WithLabelValues("notify_deliver").(prometheus.Histogram).Write(&h); err != nil {
		t.Fatal(err)
	}
	if n := h.GetHistogram().GetSampleCount(); n != 3 {
		t.Errorf("run time samples: %d, want 3", n)
	}
}

func TestWebhookDelivery(t *testing.T) {
	m := New(nil)
	m.WebhookDelivery("succeeded")
	m.WebhookDelivery("failed")
	m.WebhookDelivery("succeeded")
	if got := counter(t, m.webhooks.WithLabelValues("succeeded")); got != 2 {
		t.Errorf("succeeded: %v, want 2", got)
	}
}

// The backlog is counted at each scrape; a count that fails or outlives
// its timeout leaves the sample out and the scrape whole.
func TestBacklog(t *testing.T) {
	m := New(nil)
	pending := 7
	m.Backlog("notifications", func(context.Context) (int, error) { return pending, nil })
	m.Backlog("broken", func(context.Context) (int, error) { return 0, errors.New("database down") })
	m.Backlog("slow", func(ctx context.Context) (int, error) {
		<-ctx.Done() // the scrape's timeout ends it
		return 0, ctx.Err()
	})
	gather := func() map[string]float64 {
		t.Helper()
		// New(nil) has no pool, so its pool collector fails; the backlog's
		// must not.
		families, err := m.Registry.Gather()
		if err != nil && strings.Contains(err.Error(), "backlog") {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range families {
			if f.GetName() != "outbox_pending" {
				continue
			}
			for _, s := range f.GetMetric() {
				out[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
			}
		}
		return out
	}
	if got := gather(); len(got) != 1 || got["notifications"] != 7 {
		t.Errorf("outbox_pending: %v, want only notifications 7", got)
	}
	pending = 2
	if got := gather()["notifications"]; got != 2 {
		t.Errorf("outbox_pending after delivery: %v, want 2", got)
	}
}

func series(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
