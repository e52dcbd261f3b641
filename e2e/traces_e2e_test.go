package e2e

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"commerce/internal/platform/dbtest"
)

// otlpReceiver is an OTLP/HTTP traces endpoint (POST /v1/traces with a
// protobuf ExportTraceServiceRequest) that keeps every span it receives.
type otlpReceiver struct {
	URL string
	mu  sync.Mutex
	got []receivedSpan
}

// receivedSpan is a span with its instrumentation scope.
type receivedSpan struct {
	scope string
	*tracepb.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var msg collectortrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: undecodable export (%s): %v", req.Header.Get("Content-Type"), err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					r.got = append(r.got, receivedSpan{scope: ss.GetScope().GetName(), Span: s})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// trace returns the spans received so far of the trace traceID.
func (r *otlpReceiver) trace(traceID []byte) []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []receivedSpan
	for _, s := range r.got {
		if bytes.Equal(s.TraceId, traceID) {
			out = append(out, s)
		}
	}
	return out
}

// names returns the names of every span received so far.
func (r *otlpReceiver) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.got {
		out = append(out, s.Name)
	}
	return out
}

// tracingEnv points a server at the receiver, exporting every 100 ms.
func (r *otlpReceiver) tracingEnv(deps e2eDeps, t *testing.T, more map[string]string) map[string]string {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": r.URL,
		"OTEL_BSP_SCHEDULE_DELAY":     "100",
		"OTEL_SERVICE_NAME":           "commerce-e2e",
		// A busy test machine must not trip the Redis breaker: the test
		// looks for the checkout's Redis spans.
		"REDIS_TIMEOUT": "2s",
	}
	for k, v := range more {
		env[k] = v
	}
	return deps.env(t, env)
}

// waitTrace waits until trace traceID holds spans of every name in want.
func (r *otlpReceiver) waitTrace(t *testing.T, traceID string, timeout time.Duration, want ...string) []receivedSpan {
	t.Helper()
	id, _ := hex.DecodeString(traceID)
	deadline := time.Now().Add(timeout)
	for {
		spans := r.trace(id)
		missing := missingSpans(spans, want)
		if len(missing) == 0 {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s lacks %v; it has %v", traceID, missing, spanNames(spans))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tracedCheckout checks out one unit of productID as the operation
// PlaceOrder, sending traceparent as the client's trace context.
func tracedCheckout(t *testing.T, srv *e2eServer, email, productID, traceparent string) checkoutResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query": strings.Replace(checkoutMutation, "mutation(", "mutation PlaceOrder(", 1),
		"variables": map[string]any{"input": map[string]any{
			"lines": []map[string]any{{"productId": productID, "quantity": 1}}, "email": email,
			"shippingAddress": shippingAddress(), "idempotencyKey": "e2e-trace-" + randHex(8),
		}},
	})
	req, _ := http.NewRequest(http.MethodPost, srv.base+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	res, err := srv.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out struct {
		Data struct{ Checkout checkoutResult }
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.Checkout.Order == nil {
		t.Fatalf("checkout: %d %s", res.StatusCode, raw)
	}
	return out.Data.Checkout
}

// A checkout sent with a client's traceparent produces one trace under the
// client's span: the /graphql server span, the GraphQL operation span named
// after the operation, its SQL statements and Redis calls, and the jobs the
// checkout enqueued: the payment-intent retry job (scheduled 15 s later),
// the dummy provider's confirmation and the confirmation email it sends.
func TestE2ETracesFollowACheckout(t *testing.T) {
	deps := startDeps(t, false)
	otlp := startOTLPReceiver(t)
	srv := startServer(t, "traces", otlp.tracingEnv(deps, t, map[string]string{
		"REDIS_URL": dbtest.RedisURL(), "REDIS_PREFIX": dbtest.RedisPrefix() + "trace-" + randHex(4) + ":",
	}))
	staff := srv.staffLogin(t)
	p := srv.createProduct(t, staff, "12.00", 5)
	// Subscriptions still upgrade through the traced handler.
	ws := edgeWS(t, srv, "")
	_ = ws.CloseNow()

	email := buyerEmail()
	traceID, clientSpan := randHex(16), randHex(8)
	res := tracedCheckout(t, srv, email, p.ID, "00-"+traceID+"-"+clientSpan+"-01")
	waitForMail(t, deps.mail, email, 30*time.Second, res.Order.OrderNumber, "confirmed")
	// The payment-intent job waits 15 s, then for River's scheduler.
	spans := otlp.waitTrace(t, traceID, 60*time.Second, "mutation PlaceOrder", "river.work/payment-intent",
		"river.work/dummy-payment-confirm", "river.work/notify-deliver", "smtp send")

	parent, _ := hex.DecodeString(clientSpan)

	byID := map[string]receivedSpan{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	var server, operation *receivedSpan
	for i, s := range spans {
		switch {
		case s.Kind == tracepb.Span_SPAN_KIND_SERVER && bytes.Equal(s.ParentSpanId, parent):
			server = &spans[i]
		case s.Name == "mutation PlaceOrder":
			operation = &spans[i]
		}
	}
	if server == nil {
		t.Fatalf("no server span whose parent is the client's span %s: %v", clientSpan, spanNames(spans))
	}
	if !bytes.Equal(operation.ParentSpanId, server.SpanId) {
		t.Errorf("the operation span's parent is not the /graphql server span")
	}
	sql, redis := 0, 0
	for _, s := range spans {
		if s.scope == "github.com/exaring/otelpgx" && bytes.Equal(s.ParentSpanId, operation.SpanId) {
			sql++
		}
		if s.scope == "github.com/redis/go-redis/extra/redisotel" {
			redis++
		}
		if s.Name == "river.work/payment-intent" {
			if ins, ok := byID[string(s.ParentSpanId)]; !ok || ins.Name != "river.insert_many" {
				t.Errorf("the payment-intent job's parent is %q, want the checkout's river.insert_many", ins.Name)
			}
		}
		for _, a := range s.Attributes {
			if v := a.GetValue().GetStringValue(); strings.Contains(v, email) {
				t.Errorf("span %q holds the buyer's email in %s", s.Name, a.Key)
			}
		}
	}
	if sql < 3 {
		t.Errorf("%d SQL spans under the checkout operation, want its statements (at least 3)", sql)
	}
	if redis == 0 {
		t.Error("no Redis span in the checkout's trace (its quota checks go to Redis)")
	}
	// An operation without a name is named after its root fields.
	if !slices.Contains(otlp.names(), "mutation productCreate") {
		t.Errorf("no span for the unnamed productCreate operation: %v", otlp.names())
	}
}

func missingSpans(spans []receivedSpan, names []string) []string {
	var missing []string
	for _, n := range names {
		found := false
		for _, s := range spans {
			found = found || s.Name == n
		}
		if !found {
			missing = append(missing, n)
		}
	}
	return missing
}

func spanNames(spans []receivedSpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

// With Stripe, the calls to its API (through the tracing transport) are
// HTTP client spans of the checkout's trace.
func TestE2ETracesReachStripe(t *testing.T) {
	deps := startDeps(t, true)
	otlp := startOTLPReceiver(t)
	srv := startServer(t, "traces-stripe", otlp.tracingEnv(deps, t, nil))
	p := srv.createProduct(t, srv.staffLogin(t), "9.00", 3)
	traceID := randHex(16)
	tracedCheckout(t, srv, buyerEmail(), p.ID, "00-"+traceID+"-"+randHex(8)+"-01")
	spans := otlp.waitTrace(t, traceID, 30*time.Second, "mutation PlaceOrder")
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, s := range spans {
			if s.scope == "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" && s.Kind == tracepb.Span_SPAN_KIND_CLIENT {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTP client span in the checkout's trace: %v", spanNames(spans))
		}
		time.Sleep(200 * time.Millisecond)
		spans = otlp.waitTrace(t, traceID, time.Second, "mutation PlaceOrder")
	}
}
