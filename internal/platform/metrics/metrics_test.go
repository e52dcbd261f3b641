package metrics

import (
	"fmt"
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
		m.ObserveOperation([]string{"categories", fmt.Sprintf("f%d", i)}, "query", time.Millisecond, 2, false)
	}
	m.ObserveOperation([]string{"products"}, "query", time.Millisecond, 3, false)
	m.ObserveOperation([]string{"products", "products"}, "query", time.Millisecond, 3, true)
	m.ObserveOperation([]string{"f0", "categories"}, "query", time.Millisecond, 1, false)
	m.ObserveOperation(nil, "query", time.Millisecond, 0, false)

	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"multiple", "query", "ok"}, 50},
		{[]string{"products", "query", "ok"}, 1},
		{[]string{"products", "query", "error"}, 1},
		{[]string{"categories+f0", "query", "ok"}, 2},
		{[]string{"none", "query", "ok"}, 1},
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
