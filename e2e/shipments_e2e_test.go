package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// shipmentOrderFields are what the shipment tests read of an order.
const shipmentOrderFields = `id orderNumber status fulfillmentStatus carrier trackingNumber trackingUrl shippedAt deliveredAt
	lines { id name quantity fulfilledQuantity }
	fulfillments { id status carrier trackingNumber trackingUrl shippedAt deliveredAt lines { orderLine { id } quantity } }`

type shipmentView struct {
	ID             string
	Status         string
	Carrier        *string
	TrackingNumber *string
	TrackingURL    *string
	ShippedAt      string
	DeliveredAt    *string
	Lines          []struct {
		OrderLine struct{ ID string }
		Quantity  int
	}
}

type shipmentOrder struct {
	ID                string
	OrderNumber       string
	Status            string
	FulfillmentStatus string
	Carrier           *string
	TrackingNumber    *string
	TrackingURL       *string
	ShippedAt         *string
	DeliveredAt       *string
	Lines             []struct {
		ID                string
		Name              string
		Quantity          int
		FulfilledQuantity int
	}
	Fulfillments []shipmentView
}

type shipmentPayload struct {
	Order      *shipmentOrder
	UserErrors []userError
}

func (s *e2eServer) shipmentOrder(t *testing.T, staff, number string) shipmentOrder {
	t.Helper()
	var out struct{ Order *shipmentOrder }
	s.gql(t, staff, `query($n: String!) { order(orderNumber: $n) { `+shipmentOrderFields+` } }`, map[string]any{"n": number}, &out)
	if out.Order == nil {
		t.Fatalf("order %s not found", number)
	}
	return *out.Order
}

// ship fulfils the given lines (orderLineId → quantity; nil ships the rest).
func (s *e2eServer) ship(t *testing.T, staff, orderID, tracking, carrier string, lines map[string]int) shipmentPayload {
	t.Helper()
	in := map[string]any{"trackingNumber": tracking, "carrier": carrier}
	if lines != nil {
		var ls []any
		for id, q := range lines {
			ls = append(ls, map[string]any{"orderLineId": id, "quantity": q})
		}
		in["lines"] = ls
	}
	var out struct{ OrderFulfill shipmentPayload }
	s.gql(t, staff, `mutation($id: ID!, $input: FulfillInput!) { orderFulfill(id: $id, input: $input) {
		order { `+shipmentOrderFields+` } userErrors { field message code } } }`, map[string]any{"id": orderID, "input": in}, &out)
	return out.OrderFulfill
}

func (s *e2eServer) deliverShipment(t *testing.T, staff, id string) shipmentPayload {
	t.Helper()
	var out struct{ FulfillmentMarkDelivered shipmentPayload }
	s.gql(t, staff, `mutation($id: ID!) { fulfillmentMarkDelivered(id: $id) {
		order { `+shipmentOrderFields+` } userErrors { field message code } } }`, map[string]any{"id": id}, &out)
	return out.FulfillmentMarkDelivered
}

// shippingMails waits for n shipping emails of the order to the address
// and returns their text bodies, in no particular order (the outbox sends
// them concurrently).
func shippingMails(t *testing.T, deps e2eDeps, to, number string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ids []string
		for _, m := range deps.mail.Messages(t) {
			if slices.Contains(m.To, to) && strings.Contains(m.Subject, "Order "+number+" has shipped") {
				ids = append(ids, m.ID)
			}
		}
		if len(ids) >= n {
			out := make([]string, len(ids))
			for i, id := range ids {
				out[i] = deps.mail.Message(t, id).Text
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d shipping emails of %s to %s within 20s, want %d", len(ids), number, to, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2EShipments: a paid 3-line order ships in two parts. After the
// first (line 1, and one of line 2's two units) it is PROCESSING /
// PARTIALLY_FULFILLED; after the second (lines omitted: the rest) it is
// FULFILLED; delivering one shipment leaves it FULFILLED, both make it
// DELIVERED with deliveredAt. Each shipment's email lists only its own
// lines and tracking; the v1 fields show the latest shipment; node(id)
// reads a fulfilment for staff; over-shipping is a userError.
func TestE2EShipments(t *testing.T) {
	deps := startDeps(t, true)
	srv := startServer(t, "shipments", deps.env(t, nil))
	staff := srv.staffLogin(t)
	p1, p2, p3 := srv.createProduct(t, staff, "10.00", 5), srv.createProduct(t, staff, "25.00", 5), srv.createProduct(t, staff, "7.50", 5)
	email := buyerEmail()
	paid := srv.paidOrderOf(t, staff, email, p1.ID, 1, p2.ID, 2, p3.ID, 1)
	o := srv.shipmentOrder(t, staff, paid.OrderNumber)
	if o.FulfillmentStatus != "UNFULFILLED" || len(o.Fulfillments) != 0 || len(o.Lines) != 3 {
		t.Fatalf("paid order: %s, %d fulfillments, %d lines", o.FulfillmentStatus, len(o.Fulfillments), len(o.Lines))
	}
	l1, l2, l3 := o.Lines[0], o.Lines[1], o.Lines[2]

	over := srv.ship(t, staff, o.ID, "1Z-OVER", "UPS", map[string]int{l2.ID: 3})
	if over.Order != nil || strings.Join(codesOf(over.UserErrors), ",") != "INVALID input.lines.0.quantity" {
		t.Errorf("shipping 3 of 2 units: %+v", over.UserErrors)
	}

	first := srv.ship(t, staff, o.ID, "1Z-FIRST-111", "UPS", map[string]int{l1.ID: 1, l2.ID: 1})
	if first.Order == nil || len(first.UserErrors) > 0 {
		t.Fatalf("first shipment: %+v", first.UserErrors)
	}
	f1 := *first.Order
	if f1.Status != "PROCESSING" || f1.FulfillmentStatus != "PARTIALLY_FULFILLED" {
		t.Errorf("after the first shipment: %s/%s, want PROCESSING/PARTIALLY_FULFILLED", f1.Status, f1.FulfillmentStatus)
	}
	if got := []int{f1.Lines[0].FulfilledQuantity, f1.Lines[1].FulfilledQuantity, f1.Lines[2].FulfilledQuantity}; !slices.Equal(got, []int{1, 1, 0}) {
		t.Errorf("fulfilledQuantity after the first shipment %v, want [1 1 0]", got)
	}
	if len(f1.Fulfillments) != 1 || orNil(f1.TrackingNumber) != "1Z-FIRST-111" || orNil(f1.Carrier) != "UPS" {
		t.Errorf("after the first shipment: %d fulfillments, tracking %s", len(f1.Fulfillments), orNil(f1.TrackingNumber))
	}
	time.Sleep(10 * time.Millisecond) // the second shipment's shippedAt is later

	second := srv.ship(t, staff, o.ID, "9400-SECOND-222", "USPS", nil)
	if second.Order == nil || len(second.UserErrors) > 0 {
		t.Fatalf("second shipment: %+v", second.UserErrors)
	}
	f2 := *second.Order
	if f2.Status != "FULFILLED" || f2.FulfillmentStatus != "FULFILLED" {
		t.Errorf("after the second shipment: %s/%s, want FULFILLED/FULFILLED", f2.Status, f2.FulfillmentStatus)
	}
	if len(f2.Fulfillments) != 2 {
		t.Fatalf("%d fulfillments after two shipments", len(f2.Fulfillments))
	}
	latest := f2.Fulfillments[1]
	if orNil(f2.TrackingNumber) != "9400-SECOND-222" || orNil(f2.Carrier) != "USPS" ||
		orNil(f2.TrackingURL) != orNil(latest.TrackingURL) || !strings.Contains(orNil(f2.TrackingURL), "9400-SECOND-222") ||
		orNil(f2.ShippedAt) != latest.ShippedAt || latest.ShippedAt <= f2.Fulfillments[0].ShippedAt {
		t.Errorf("v1 fields %s %s %s %s, want the latest shipment %+v", orNil(f2.Carrier), orNil(f2.TrackingNumber),
			orNil(f2.TrackingURL), orNil(f2.ShippedAt), latest)
	}
	if len(latest.Lines) != 2 || latest.Lines[0].OrderLine.ID != l2.ID || latest.Lines[0].Quantity != 1 ||
		latest.Lines[1].OrderLine.ID != l3.ID || latest.Lines[1].Quantity != 1 {
		t.Errorf("the second shipment's lines %+v, want 1 of line 2 and 1 of line 3", latest.Lines)
	}

	// Each shipment's email lists its own lines and tracking.
	mails := shippingMails(t, deps, email, o.OrderNumber, 2)
	if len(mails) != 2 {
		t.Errorf("%d shipping emails, want 2", len(mails))
	}
	for _, c := range []struct {
		tracking   string
		has, hasnt []string
	}{
		{"1Z-FIRST-111", []string{"1 x " + l1.Name, "1 x " + l2.Name, "part of order"}, []string{l3.Name, "9400-SECOND-222"}},
		{"9400-SECOND-222", []string{"1 x " + l2.Name, "1 x " + l3.Name}, []string{l1.Name, "1Z-FIRST-111", "part of order"}},
	} {
		i := slices.IndexFunc(mails, func(m string) bool { return strings.Contains(m, c.tracking) })
		if i < 0 {
			t.Errorf("no shipping email shows the tracking %s: %q", c.tracking, mails)
			continue
		}
		text := mails[i]
		for _, s := range c.has {
			if !strings.Contains(text, s) {
				t.Errorf("the shipping email of %s lacks %q:\n%s", c.tracking, s, text)
			}
		}
		for _, s := range c.hasnt {
			if strings.Contains(text, s) {
				t.Errorf("the shipping email of %s shows %q, another shipment's:\n%s", c.tracking, s, text)
			}
		}
	}

	// node(id) reads a fulfilment for staff.
	var node struct {
		Node *struct {
			ID             string
			TrackingNumber *string
		}
	}
	srv.gql(t, staff, `query($id: ID!) { node(id: $id) { ... on Fulfillment { id trackingNumber } } }`,
		map[string]any{"id": latest.ID}, &node)
	if node.Node == nil || node.Node.ID != latest.ID || orNil(node.Node.TrackingNumber) != "9400-SECOND-222" {
		t.Errorf("node(fulfillment id): %+v", node.Node)
	}

	// Delivery: one shipment, then the other.
	d1 := srv.deliverShipment(t, staff, f2.Fulfillments[0].ID)
	if d1.Order == nil || d1.Order.FulfillmentStatus != "FULFILLED" || d1.Order.DeliveredAt != nil ||
		d1.Order.Fulfillments[0].Status != "DELIVERED" || d1.Order.Fulfillments[1].Status != "SHIPPED" {
		t.Fatalf("one shipment delivered: %+v %+v", d1.Order, d1.UserErrors)
	}
	again := srv.deliverShipment(t, staff, f2.Fulfillments[0].ID)
	if again.Order != nil || strings.Join(codesOf(again.UserErrors), ",") != "INVALID id" {
		t.Errorf("delivering a shipment twice: %+v", again.UserErrors)
	}
	d2 := srv.deliverShipment(t, staff, latest.ID)
	if d2.Order == nil || d2.Order.FulfillmentStatus != "DELIVERED" || d2.Order.DeliveredAt == nil {
		t.Fatalf("both shipments delivered: %+v %+v", d2.Order, d2.UserErrors)
	}
	for _, f := range d2.Order.Fulfillments {
		if f.Status != "DELIVERED" || f.DeliveredAt == nil {
			t.Errorf("fulfillment %s: %s, delivered %v", f.ID, f.Status, f.DeliveredAt)
		}
	}
}
