package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Random operation names cannot grow the series without bound: past
// maxOperationNames they are counted as "other", while known names keep
// their own series.
func TestOperationNamesAreBounded(t *testing.T) {
	m := New(nil)
	for i := range maxOperationNames + 50 {
		m.ObserveOperation(fmt.Sprintf("Op%d", i), "query", time.Millisecond, 2, false)
	}
	m.ObserveOperation("Op0", "query", time.Millisecond, 3, false)

	if n := series(m.operations); n != maxOperationNames+1 {
		t.Errorf("operation series: %d, want %d names and other", n, maxOperationNames+1)
	}
	if got := counter(t, m.operations.WithLabelValues("other", "query", "ok")); got != 50 {
		t.Errorf(`operations counted as "other": %v, want 50`, got)
	}
	if got := counter(t, m.operations.WithLabelValues("Op0", "query", "ok")); got != 2 {
		t.Errorf("Op0, a known name: %v, want 2", got)
	}
	if n := series(m.statements); n != maxOperationNames+1 {
		t.Errorf("statement histograms: %d, want %d", n, maxOperationNames+1)
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
