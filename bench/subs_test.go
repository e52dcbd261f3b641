package main

import (
	"testing"
	"time"
)

// The subscribers' client reads only what it needs of each message: an
// event's timestamp, and nothing from a message that is not a clean event,
// which then goes to the full decode that reports it.
func TestEventTimestamp(t *testing.T) {
	want := time.Date(2026, 12, 5, 15, 19, 0, 123456000, time.UTC)
	event := `{"payload":{"data":{"orderUpdates":{"orderId":"o1","orderNumber":"ORD-1","status":"PAID","paymentStatus":"PAID","timestamp":"2026-12-05T15:19:00.123456Z"}}},"id":"1","type":"next"}`
	if ts, ok := eventTimestamp([]byte(event)); !ok || !ts.Equal(want) {
		t.Errorf("event: got %v, %v; want %v, true", ts, ok, want)
	}
	for name, msg := range map[string]string{
		"ping":            `{"type":"ping"}`,
		"with errors":     `{"payload":{"data":{"orderUpdates":null},"errors":[{"message":"subscriber too slow"}]},"id":"1","type":"next"}`,
		"no timestamp":    `{"payload":{"data":{"orderUpdates":{"orderId":"o1"}}},"id":"1","type":"next"}`,
		"other field":     `{"payload":{"data":{"lowStockAlerts":{"timestamp":"2026-12-05T15:19:00Z"}}},"id":"1","type":"next"}`,
		"complete":        `{"id":"1","type":"complete"}`,
		"truncated event": `{"payload":{"data":{"orderUpdates":{"timestamp":"2026-12-05T15:19:00Z"`,
	} {
		if ts, ok := eventTimestamp([]byte(msg)); ok {
			t.Errorf("%s: got %v, true; want false", name, ts)
		}
	}
}
