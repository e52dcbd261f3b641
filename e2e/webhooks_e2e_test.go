package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"commerce/internal/platform/stripetest"
)

// Outbound webhooks (issue 19), driven through the binary with a local
// receiver on 127.0.0.1 (hence WEBHOOK_ALLOW_PRIVATE) and short backoffs.

// whHit is one POST the receiver got.
type whHit struct {
	EventID, Topic, Signature string
	Body                      []byte
	Status                    int // what the receiver answered
	Data                      whData
}

// whData is what the tests read of an event's data: the object's id (a
// low-stock alert's is its product's).
type whData struct {
	ID      string
	Product *struct{ ID string }
}

// whReceiver is a webhook endpoint: it answers the first failFirst[topic]
// requests of a topic with 500, and everything with 503 while down.
type whReceiver struct {
	srv       *httptest.Server
	down      atomic.Bool
	mu        sync.Mutex
	failFirst map[string]int
	hits      []whHit
}

func whStartReceiver(t *testing.T, failFirst map[string]int) *whReceiver {
	t.Helper()
	r := &whReceiver{failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		h := whHit{EventID: req.Header.Get("Commerce-Event-Id"), Topic: req.Header.Get("Commerce-Topic"),
			Signature: req.Header.Get("Commerce-Signature"), Body: b, Status: http.StatusOK}
		var body struct{ Data whData }
		_ = json.Unmarshal(b, &body)
		h.Data = body.Data
		if h.Data.Product != nil {
			h.Data.ID = h.Data.Product.ID
		}
		r.mu.Lock()
		switch {
		case r.down.Load():
			h.Status = http.StatusServiceUnavailable
		case r.failFirst[h.Topic] > 0:
			r.failFirst[h.Topic]--
			h.Status = http.StatusInternalServerError
		}
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		w.WriteHeader(h.Status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// about returns the hits whose data is the object id, in arrival order.
func (r *whReceiver) about(id string) []whHit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []whHit
	for _, h := range r.hits {
		if h.Data.ID == id {
			out = append(out, h)
		}
	}
	return out
}

// waitFor polls until cond holds of the hits about id.
func (r *whReceiver) waitFor(t *testing.T, id string, timeout time.Duration, what string, cond func([]whHit) bool) []whHit {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		hits := r.about(id)
		if cond(hits) {
			return hits
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver: %s not within %s; got %d requests", what, timeout, len(hits))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// whVerify checks a Commerce-Signature as a receiver would.
func whVerify(header string, body []byte, secret string) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		if k == "t" {
			ts = v
		} else if k == "v1" {
			sigs = append(sigs, v)
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return ts != ""
		}
	}
	return false
}

func whEnv(t *testing.T, deps e2eDeps, more map[string]string) map[string]string {
	env := map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE": "200ms", "WEBHOOK_TIMEOUT": "2s", "JOB_TIMEOUT": "3s"}
	for k, v := range more {
		env[k] = v
	}
	return deps.env(t, env)
}

// whCreateEndpoint subscribes url to topics as ADMIN and returns its id and
// secret; the endpoint is deleted when the test ends, before s stops (a
// test that stops s itself deletes it first), so that later tests' orders
// are not announced to a closed receiver.
func whCreateEndpoint(t *testing.T, s *e2eServer, staff, url string, topics ...string) (id, secret string) {
	t.Helper()
	var out struct {
		WebhookEndpointCreate struct {
			Endpoint   *struct{ ID string }
			Secret     *string
			UserErrors []userError
		}
	}
	s.gql(t, staff, `mutation($in: WebhookEndpointInput!) { webhookEndpointCreate(input: $in) {
		endpoint { id } secret userErrors { field message code } } }`,
		map[string]any{"in": map[string]any{"url": url, "topics": topics}}, &out)
	r := out.WebhookEndpointCreate
	if r.Endpoint == nil || r.Secret == nil || len(r.UserErrors) > 0 {
		t.Fatalf("webhookEndpointCreate: %+v", r.UserErrors)
	}
	t.Cleanup(func() { whDeleteEndpoint(t, s, r.Endpoint.ID) })
	return r.Endpoint.ID, *r.Secret
}

func whDeleteEndpoint(t *testing.T, s *e2eServer, id string) {
	select {
	case <-s.exited:
		return
	default:
	}
	var out struct {
		WebhookEndpointDelete struct{ DeletedID *string }
	}
	s.gql(t, s.staffLogin(t), `mutation($id: ID!) { webhookEndpointDelete(id: $id) { deletedId } }`, map[string]any{"id": id}, &out)
}

type whDelivery struct {
	ID, EventID, Topic, Status string
	Attempts                   int
	ResponseStatus             *int
	Payload                    struct {
		ID    string
		Topic string
		Data  struct{ ID, OrderNumber string }
	}
}

// whDeliveries reads an endpoint's deliveries as ADMIN, newest first.
func whDeliveries(t *testing.T, s *e2eServer, staff, endpointID string) []whDelivery {
	t.Helper()
	var out struct {
		WebhookEndpoints struct {
			Edges []struct {
				Node struct {
					ID         string
					Deliveries struct {
						Edges      []struct{ Node whDelivery }
						TotalCount int
					}
				}
			}
		}
	}
	s.gql(t, staff, `{ webhookEndpoints(first: 100) { edges { node { id deliveries(first: 100) {
		edges { node { id eventId topic status attempts responseStatus payload } } totalCount } } } } }`, nil, &out)
	for _, e := range out.WebhookEndpoints.Edges {
		if e.Node.ID == endpointID {
			var ds []whDelivery
			for _, d := range e.Node.Deliveries.Edges {
				ds = append(ds, d.Node)
			}
			return ds
		}
	}
	t.Fatalf("endpoint %s not listed", endpointID)
	return nil
}

// Subscribed to ORDER_CREATED and ORDER_PAID, a receiver that fails the
// first three ORDER_CREATED attempts gets four of them (same event id and
// body, each correctly signed), then the ORDER_PAID, in that order; a
// checkout that rolls back (out of stock) announces nothing.
func TestE2EWebhooksCheckoutAndPay(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "webhooks", whEnv(t, deps, nil))
	staff := srv.staffLogin(t)
	rcv := whStartReceiver(t, map[string]int{"ORDER_CREATED": 3})

	var bad struct {
		WebhookEndpointCreate struct{ UserErrors []userError }
	}
	srv.gql(t, staff, `mutation { webhookEndpointCreate(input: {url: "not a url", topics: [ORDER_CREATED]}) { userErrors { field message code } } }`, nil, &bad)
	if ues := bad.WebhookEndpointCreate.UserErrors; len(ues) != 1 || strings.Join(ues[0].Field, ".") != "input.url" {
		t.Errorf("a bad URL: userErrors %+v, want one at input.url", ues)
	}
	endpointID, secret := whCreateEndpoint(t, srv, staff, rcv.srv.URL+"/hooks", "ORDER_CREATED", "ORDER_PAID")

	p := srv.createProduct(t, staff, "12.30", 2)
	var refused struct{ Checkout checkoutResult }
	srv.gql(t, "", checkoutMutation, map[string]any{"input": map[string]any{
		"lines": []any{map[string]any{"productId": p.ID, "quantity": 3}}, "email": buyerEmail(),
		"shippingAddress": shippingAddress(), "idempotencyKey": "e2e-wh-oos-" + randHex(8),
	}}, &refused)
	if refused.Checkout.Order != nil || len(refused.Checkout.UserErrors) == 0 {
		t.Fatalf("a checkout of 3 of 2 went through")
	}
	o := *srv.checkout(t, buyerEmail(), "e2e-wh-"+randHex(8), map[string]int{p.ID: 1}).Order
	staffView := srv.waitOrder(t, staff, o.OrderNumber, 10*time.Second, "with an intent", func(o e2eOrder) bool { return o.StripePaymentIntentID != nil })
	obj := stripetest.PaymentIntentObject(*staffView.StripePaymentIntentID, o.ID, o.OrderNumber, cents(t, o.Total.Amount), "usd")
	if code := srv.sendEvent(t, "payment_intent.succeeded", obj); code != http.StatusOK {
		t.Fatalf("payment_intent.succeeded: %d", code)
	}

	hits := rcv.waitFor(t, o.ID, 90*time.Second, "ORDER_PAID delivered", func(hs []whHit) bool {
		return len(hs) > 0 && hs[len(hs)-1].Topic == "ORDER_PAID"
	})
	var topics []string
	for _, h := range hits {
		topics = append(topics, h.Topic)
		if !whVerify(h.Signature, h.Body, secret) {
			t.Errorf("%s: signature %q does not verify", h.Topic, h.Signature)
		}
	}
	if want := "ORDER_CREATED ORDER_CREATED ORDER_CREATED ORDER_CREATED ORDER_PAID"; strings.Join(topics, " ") != want {
		t.Fatalf("received %v, want %s", topics, want)
	}
	for _, h := range hits[1:4] {
		if h.EventID != hits[0].EventID || string(h.Body) != string(hits[0].Body) {
			t.Errorf("a retry carried event %s (body changed: %v), want %s", h.EventID, string(h.Body) != string(hits[0].Body), hits[0].EventID)
		}
	}
	if hits[4].EventID == hits[0].EventID {
		t.Errorf("ORDER_PAID reused ORDER_CREATED's event id")
	}

	ds := whDeliveries(t, srv, staff, endpointID)
	if len(ds) != 2 {
		t.Fatalf("deliveries = %d, want 2 (none for the rolled-back checkout)", len(ds))
	}
	for i, want := range []struct {
		topic    string
		attempts int
		event    string
	}{{"ORDER_PAID", 1, hits[4].EventID}, {"ORDER_CREATED", 4, hits[0].EventID}} {
		d := ds[i]
		if d.Topic != want.topic || d.Status != "SUCCEEDED" || d.Attempts != want.attempts || d.EventID != want.event ||
			d.Payload.ID != want.event || d.Payload.Data.OrderNumber != o.OrderNumber || d.ResponseStatus == nil || *d.ResponseStatus != 200 {
			t.Errorf("delivery %d = %+v, want %s SUCCEEDED after %d attempts, event %s", i, d, want.topic, want.attempts, want.event)
		}
	}

	var ping struct {
		WebhookEndpointPing struct {
			Delivery   *struct{ ID, Topic, Status string }
			UserErrors []userError
		}
	}
	srv.gql(t, staff, `mutation($id: ID!) { webhookEndpointPing(id: $id) { delivery { id topic status } userErrors { field message code } } }`,
		map[string]any{"id": endpointID}, &ping)
	if ping.WebhookEndpointPing.Delivery == nil || ping.WebhookEndpointPing.Delivery.Topic != "PING" {
		t.Fatalf("ping: %+v", ping.WebhookEndpointPing.UserErrors)
	}
	rcv.waitFor(t, endpointID, 30*time.Second, "the PING", func(hs []whHit) bool { return len(hs) == 1 && hs[0].Topic == "PING" })
}

// A service killed right after a checkout commits sends the checkout's
// delivery once it is back: exactly one request is acknowledged, and the
// delivery ends SUCCEEDED. The receiver refuses (503) while the first
// process lives, so that nothing can have been acknowledged before the
// kill.
func TestE2EWebhookSurvivesSIGKILL(t *testing.T) {
	deps := startDeps(t, true)
	env := whEnv(t, deps, nil)
	first := startServer(t, "webhooks-before-kill", env)
	staff := first.staffLogin(t)
	rcv := whStartReceiver(t, nil)
	rcv.down.Store(true)
	endpointID, _ := whCreateEndpoint(t, first, staff, rcv.srv.URL, "ORDER_CREATED")
	p := first.createProduct(t, staff, "5.00", 3)
	o := *first.checkout(t, buyerEmail(), "e2e-wh-kill-"+randHex(8), map[string]int{p.ID: 1}).Order
	first.kill()
	rcv.down.Store(false)

	second := startServer(t, "webhooks-after-kill", env)
	staff = second.staffLogin(t)
	rcv.waitFor(t, o.ID, 120*time.Second, "the ORDER_CREATED acknowledged", func(hs []whHit) bool {
		return len(hs) > 0 && hs[len(hs)-1].Status == http.StatusOK
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := whDeliveries(t, second, staff, endpointID)
		if len(ds) == 1 && ds[0].Status == "SUCCEEDED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v, want one SUCCEEDED", ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	whDeleteEndpoint(t, second, endpointID)
	second.stop()
	acked := 0
	for _, h := range rcv.about(o.ID) {
		if h.Status == http.StatusOK {
			acked++
		}
	}
	if acked != 1 {
		t.Errorf("the delivery was acknowledged %d times, want once", acked)
	}
}

// Products, low stock and registrations are announced too: a product
// created with stock 3 and threshold 1, then renamed, then sold down to 1
// gives PRODUCT_CREATED, PRODUCT_UPDATED and INVENTORY_LOW_STOCK about it
// (in any order: per-endpoint ordering is per order id);
// a registration gives CUSTOMER_CREATED about the new customer.
func TestE2EWebhooksCatalogAndCustomers(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "webhooks-catalog", whEnv(t, deps, nil))
	staff := srv.staffLogin(t)
	rcv := whStartReceiver(t, nil)
	_, secret := whCreateEndpoint(t, srv, staff, rcv.srv.URL, "PRODUCT_CREATED", "PRODUCT_UPDATED", "INVENTORY_LOW_STOCK", "CUSTOMER_CREATED")

	p := srv.createProductWithThreshold(t, staff, "3.00", 3, 1)
	var upd struct {
		ProductUpdate struct{ UserErrors []userError }
	}
	srv.gql(t, staff, `mutation($id: ID!) { productUpdate(id: $id, input: {name: "Renamed widget"}) { userErrors { field message code } } }`,
		map[string]any{"id": p.ID}, &upd)
	if len(upd.ProductUpdate.UserErrors) > 0 {
		t.Fatalf("productUpdate: %+v", upd.ProductUpdate.UserErrors)
	}
	srv.checkout(t, buyerEmail(), "e2e-wh-low-"+randHex(8), map[string]int{p.ID: 2})
	hits := rcv.waitFor(t, p.ID, 60*time.Second, "three product events", func(hs []whHit) bool { return len(hs) >= 3 })
	var topics []string
	for _, h := range hits {
		topics = append(topics, h.Topic)
		if !whVerify(h.Signature, h.Body, secret) {
			t.Errorf("%s: signature does not verify", h.Topic)
		}
	}
	// Events that are not about an order may arrive in any order.
	slices.Sort(topics)
	if want := "INVENTORY_LOW_STOCK PRODUCT_CREATED PRODUCT_UPDATED"; strings.Join(topics, " ") != want {
		t.Errorf("received %v, want %s", topics, want)
	}
	for _, h := range hits {
		var body struct{ Data struct{ Name string } }
		_ = json.Unmarshal(h.Body, &body)
		if h.Topic == "PRODUCT_UPDATED" && body.Data.Name != "Renamed widget" {
			t.Errorf("PRODUCT_UPDATED data name = %q, want the new name", body.Data.Name)
		}
	}

	_, customerID := accRegisterCustomer(t, srv, "wh-"+randHex(6)+"@example.com", "correct horse battery", "Hook")
	rcv.waitFor(t, customerID, 60*time.Second, "CUSTOMER_CREATED", func(hs []whHit) bool {
		return len(hs) == 1 && hs[0].Topic == "CUSTOMER_CREATED"
	})
}
