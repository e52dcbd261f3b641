package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/contact"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/platform/web"
	"commerce/internal/pricing"
	"commerce/internal/shipping"
	"commerce/internal/webhooks"
)

// Checkout bounds.
const (
	maxCheckoutLines  = 100
	maxLineQuantity   = 1000
	maxIdempotencyKey = 255
)

// LineInput is one line to buy: a product by id or by sku.
type LineInput struct {
	// VariantID is left out of the idempotency hash when nil, so that a v1
	// input hashes as it did before variants.
	VariantID *string `json:",omitempty"`
	ProductID *string // only for a product with one active variant
	SKU       *string // a variant's
	Quantity  int
}

// CheckoutInput is what the checkout mutation accepts.
type CheckoutInput struct {
	CartID          *string
	Lines           []LineInput
	Email           string
	ShippingAddress customers.Address
	BillingAddress  *customers.Address
	DiscountCodes   []string
	// ShippingMethodID is the method chosen at checkout, nil for the cart's
	// (omitted from the fingerprint when nil, so that keys of checkouts
	// from before shipping methods still replay).
	ShippingMethodID *string `json:",omitempty"`
	IdempotencyKey   string
	// Caller is who asks. The idempotency key is bound to them (see hash):
	// another caller replaying the key and input gets a Conflict, never
	// this caller's order and access token.
	Caller auth.Principal `json:"-"`
	// ClientIP is the address the checkout came from, "" outside HTTP. Its
	// network is recorded on the order: unpaid units are bounded per client
	// network too (see web.NetworkOf).
	ClientIP string `json:"-"`
}

// CheckoutResult is a placed order and what the storefront needs to pay it.
type CheckoutResult struct {
	Order        *Order
	ClientSecret *string
	AccessToken  string
}

// Checkout places an order in one transaction with no network calls
// inside: it claims the idempotency key, completes the cart, prices every
// line from the catalog, reserves the stock of all lines with one
// statement that locks the variants in id order, gets the buyer (the
// signed-in account, else the guest record of the email), writes the
// order, its lines and first events, and schedules the payment timeout.
// After commit it creates the payment intent; if the provider fails, a job
// retries and the storefront reads the secret later from the order.
//
// The same key with the same input from the same caller returns the same
// order (also while the first request is still running: the second waits
// for it); the same key with another input, or from another caller, is a
// Conflict error. Problems the caller can fix come back as userErrors
// (Invalid, NotFound, InsufficientStock, and LIMIT_EXCEEDED when the order
// is over MaxUnitsPerOrder or the unpaid orders of its email or client IP
// would hold more than MaxUnpaidUnits) and write nothing, so they do not
// bind the key.
func (s *Service) Checkout(ctx context.Context, in CheckoutInput) (*CheckoutResult, error) {
	norm, err := normalizeCheckout(in)
	if err != nil {
		return nil, err
	}
	hash := norm.hash()
	orderID := uuid.NewString()
	var placed *placedOrder
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		replayID, err := claimKey(ctx, tx, norm.IdempotencyKey, hash, orderID, s.unpaidScopeLocks(norm))
		if err != nil || replayID != "" {
			orderID = replayID
			return err
		}
		placed, err = s.place(ctx, tx, orderID, norm)
		return err
	})
	if err != nil {
		return nil, err
	}
	if placed == nil {
		return s.replay(ctx, orderID)
	}
	secret := s.createIntentAfterCommit(ctx, placed)
	placed.order.PaymentClientSecret = secret
	return &CheckoutResult{Order: placed.order, ClientSecret: secret, AccessToken: s.AccessToken(placed.order.ID)}, nil
}

// placedOrder is what the checkout transaction produced.
type placedOrder struct {
	order    *Order
	customer *customers.CheckoutCustomer
}

// place runs the body of the checkout transaction. For a 3-line cart it
// costs seven statements after the key's claim (see TestStatementBudgets):
// the cart's completion (which locks it), one load of the variants with the
// cart's lines, the destination and the unpaid units, one reservation of
// every line, the buyer, the order with its lines and events, the lookup of
// webhook subscribers, and the River jobs.
func (s *Service) place(ctx context.Context, tx bun.Tx, orderID string, in CheckoutInput) (*placedOrder, error) {
	chosen, err := s.completeCart(ctx, tx, in, orderID)
	if err != nil {
		return nil, err
	}
	loaded, err := s.loadForCheckout(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	lines, linePaths, err := checkoutLines(in, loaded.cartLines)
	if err != nil {
		return nil, err
	}
	priced, err := s.priceLines(lines, linePaths, loaded.variants)
	if err != nil {
		return nil, err
	}
	shipped, disc, err := s.priceOrder(ctx, tx, in, priced, loaded.dest, chosen)
	if err != nil {
		return nil, err
	}
	if err := s.checkReservationLimits(in, priced.units(), loaded.held); err != nil {
		return nil, err
	}
	number := newOrderNumber()
	if err := s.reserve(ctx, tx, orderID, number, priced); err != nil {
		return nil, err
	}
	allocs := disc.priced.Result.Allocations
	if err := s.promos.Take(ctx, tx, in.Email, allocs, disc.promos, disc.path); err != nil {
		return nil, err
	}
	cust, err := s.buyer(ctx, tx, in)
	if err != nil {
		return nil, err
	}
	row := newOrderRow(orderID, number, cust.ID, in, shipped)
	row.DiscountAllocations = allocs
	events := []eventRow{
		newEvent(orderID, EventPlaced, "Order "+number+" placed"),
		newEvent(orderID, EventStockReserved, fmt.Sprintf("%d units reserved", priced.units())),
	}
	if len(allocs) > 0 {
		events = append(events, newEvent(orderID, EventDiscountApplied, discountMessage(allocs)))
	}
	if err := insertOrder(ctx, tx, row, priced.rows(orderID, disc.priced.Result.LineDiscounts), events); err != nil {
		return nil, err
	}
	if err := s.announce(ctx, tx, webhooks.OrderCreated, orderID); err != nil {
		return nil, err
	}
	if err := s.scheduleAfterCheckout(ctx, tx, orderID); err != nil {
		return nil, err
	}
	o, err := row.order()
	if err != nil {
		return nil, err
	}
	return &placedOrder{order: o, customer: cust}, nil
}

// buyer is the customer the order belongs to: the signed-in account, or
// for a guest the guest record of the order's email, which never touches an
// account of the same email.
func (s *Service) buyer(ctx context.Context, tx bun.Tx, in CheckoutInput) (*customers.CheckoutCustomer, error) {
	if in.Caller.IsCustomer() {
		return customers.AccountForCheckout(ctx, tx, in.Caller.ID, in.ShippingAddress)
	}
	return customers.UpsertGuestForCheckout(ctx, tx, in.Email, in.ShippingAddress, s.cfg.Currency)
}

// fieldPath names where a line's problem is reported: the line's own field
// for lines given in the input, the cart for a cart checkout.
type fieldPath func(field string) []string

// priceOrder prices the lines for the destination with the method of the
// input, else the cart's, and with the promotions that apply (see
// discounts): the totals, shipping and tax lines to charge. It returns the
// SHIPPING_* userErrors of shipping.Result.CheckoutError.
func (s *Service) priceOrder(ctx context.Context, tx bun.Tx, in CheckoutInput, priced pricedLines,
	dest shipping.Destination, chosen cartChoices) (shipping.Result, *discounted, error) {
	req := shipping.Request{Config: s.cfg.Pricing, Currency: s.cfg.Currency, Items: priced.items(), Dest: dest}
	switch {
	case in.ShippingMethodID != nil:
		req.MethodID = *in.ShippingMethodID
	case chosen.shippingMethodID != nil:
		req.MethodID = *chosen.shippingMethodID
	}
	var shipped shipping.Result
	disc, err := s.discounts(ctx, tx, in, chosen.discountCodes, priced, func(discount money.Money, free bool) (pricing.Totals, error) {
		req.Discount, req.FreeShipping = discount, free
		r, err := shipping.Price(req)
		shipped = r
		return r.Totals, err
	})
	if err != nil {
		return shipping.Result{}, nil, err
	}
	return shipped, disc, shipped.CheckoutError(in.ShippingMethodID != nil)
}

// cartChoices are what the shopper chose on the cart for its checkout.
type cartChoices struct {
	shippingMethodID *string
	discountCodes    []string
}

// completeCart, for a cart checkout, locks the cart and marks it completed
// by the order (rolled back with the checkout if it fails), and returns the
// shipping method and discount codes chosen on it.
func (s *Service) completeCart(ctx context.Context, tx bun.Tx, in CheckoutInput, orderID string) (cartChoices, error) {
	if in.CartID == nil {
		return cartChoices{}, nil
	}
	cart, err := s.carts.Complete(ctx, tx, *in.CartID, orderID)
	if err != nil {
		var e *apperr.Error
		if errors.As(err, &e) {
			e.Field = apperr.Path("input", "cartId")
		}
		return cartChoices{}, err
	}
	return cartChoices{shippingMethodID: cart.ShippingMethodID, discountCodes: cart.DiscountCodes}, nil
}

// checkoutLines returns the lines to buy, from the cart (its lines, read
// after its lock) or the input, with where each line's problems are
// reported.
func checkoutLines(in CheckoutInput, cartLines []carts.Line) ([]LineInput, []fieldPath, error) {
	if in.CartID == nil {
		paths := make([]fieldPath, len(in.Lines))
		for i := range in.Lines {
			paths[i] = func(field string) []string { return apperr.Path("input", "lines", i, field) }
		}
		return in.Lines, paths, nil
	}
	cartPath := apperr.Path("input", "cartId")
	if len(cartLines) == 0 {
		return nil, nil, apperr.InvalidField(cartPath, "the cart is empty")
	}
	lines := make([]LineInput, len(cartLines))
	paths := make([]fieldPath, len(cartLines))
	for i, l := range cartLines {
		lines[i] = LineInput{VariantID: &l.VariantID, Quantity: l.Quantity}
		paths[i] = func(string) []string { return slices.Clone(cartPath) }
	}
	return lines, paths, nil
}

// pricedLine is a line priced from the catalog.
type pricedLine struct {
	variant  catalog.SaleVariant
	quantity int
	path     fieldPath
	total    money.Money
}

type pricedLines []pricedLine

func (ls pricedLines) pricingLines() []pricing.Line {
	out := make([]pricing.Line, len(ls))
	for i, l := range ls {
		out[i] = pricing.Line{UnitPrice: l.variant.UnitPrice(), Quantity: l.quantity}
	}
	return out
}

func (ls pricedLines) items() []shipping.Item {
	out := make([]shipping.Item, len(ls))
	for i, l := range ls {
		out[i] = l.variant.ShippingItem(l.quantity)
	}
	return out
}

func (ls pricedLines) units() int {
	n := 0
	for _, l := range ls {
		n += l.quantity
	}
	return n
}

// rows are the order's lines with their discounts.
func (ls pricedLines) rows(orderID string, discounts []int64) []lineRow {
	rows := make([]lineRow, len(ls))
	for i, l := range ls {
		pid, vid := l.variant.ProductID, l.variant.ID
		rows[i] = lineRow{OrderID: orderID, Position: i, ProductID: &pid, VariantID: &vid, SKU: l.variant.SKU,
			Name: l.variant.Name, VariantTitle: l.variant.Title, SelectedOptions: l.variant.SelectedOptions,
			Quantity: l.quantity, UnitPrice: l.variant.Price, LineTotal: l.total.Amount, Discount: discounts[i]}
	}
	return rows
}

// priceLines matches each line to its variant and prices it at the current
// catalog price. Lines of the same variant are merged. Every problem is
// reported at once.
func (s *Service) priceLines(lines []LineInput, paths []fieldPath, variants []catalog.SaleVariant) (pricedLines, error) {
	var errs apperr.List
	var out pricedLines
	byVariant := make(map[string]int)
	for i, l := range lines {
		v, err := catalog.ResolveForSale(variants, l.ref(), s.cfg.Currency, paths[i])
		if err != nil {
			errs.Add(err)
			continue
		}
		if j, ok := byVariant[v.ID]; ok {
			out[j].quantity += l.Quantity
			continue
		}
		byVariant[v.ID] = len(out)
		out = append(out, pricedLine{variant: *v, quantity: l.Quantity, path: paths[i]})
	}
	for i := range out {
		if out[i].quantity > maxLineQuantity {
			errs = append(errs, apperr.InvalidField(out[i].path("quantity"), "at most %d of one variant", maxLineQuantity))
			continue
		}
		t, err := pricing.LineTotal(pricing.Line{UnitPrice: out[i].variant.UnitPrice(), Quantity: out[i].quantity})
		if err != nil {
			errs = append(errs, apperr.InvalidField(out[i].path("quantity"), "the line total is out of range"))
		}
		out[i].total = t
	}
	return out, errs.Err()
}

// ref is what names the line's variant.
func (l LineInput) ref() catalog.LineRef {
	return catalog.LineRef{VariantID: l.VariantID, ProductID: l.ProductID, SKU: l.SKU}
}

// reserve takes the stock of every line in one statement (see
// inventory.Ledger.ApplyAll, which locks the variants in id order): all
// lines or none. Short lines come back as INSUFFICIENT_STOCK userErrors
// naming each line that failed.
func (s *Service) reserve(ctx context.Context, tx bun.Tx, orderID, number string, lines pricedLines) error {
	note := "Order " + number
	changes := make([]inventory.Change, len(lines))
	for i, l := range lines {
		changes[i] = inventory.Change{VariantID: l.variant.ID, Type: inventory.Reservation,
			Quantity: l.quantity, ReferenceID: &orderID, Notes: &note}
	}
	_, failed, err := s.ledger.ApplyAll(ctx, tx, changes)
	if err != nil {
		return err
	}
	var errs apperr.List
	for i, l := range lines {
		ferr, ok := failed[i]
		switch {
		case !ok:
		case !errors.Is(ferr, apperr.ErrInsufficientStock):
			errs.Add(ferr)
		default:
			errs = append(errs, &apperr.Error{Kind: apperr.InsufficientStock, Field: l.path("quantity"),
				Message: fmt.Sprintf("not enough stock of %s for %d", l.variant.SKU, l.quantity)})
		}
	}
	return errs.Err()
}

// scheduleAfterCheckout enqueues, in the checkout transaction, the payment
// timeout and the fallback that creates the payment intent should the
// attempt right after commit fail.
func (s *Service) scheduleAfterCheckout(ctx context.Context, tx bun.Tx, orderID string) error {
	now := s.now()
	_, err := s.jobs.InsertManyTx(ctx, tx.Tx, []river.InsertManyParams{
		{Args: PaymentTimeoutArgs{OrderID: orderID}, InsertOpts: &river.InsertOpts{ScheduledAt: now.Add(s.cfg.PaymentTimeout)}},
		{Args: PaymentIntentArgs{OrderID: orderID}, InsertOpts: &river.InsertOpts{ScheduledAt: now.Add(s.cfg.IntentRetryAfter)}},
	})
	if err != nil {
		return fmt.Errorf("schedule payment jobs: %w", err)
	}
	return nil
}

func newOrderRow(id, number, customerID string, in CheckoutInput, priced shipping.Result) *orderRow {
	t := priced.Totals
	billing := in.ShippingAddress
	if in.BillingAddress != nil {
		billing = *in.BillingAddress
	}
	return &orderRow{
		ID: id, OrderNumber: number, CustomerID: &customerID, Email: in.Email, Currency: t.Total.Currency,
		Subtotal: t.Subtotal.Amount, Tax: t.Tax.Amount, ShippingCost: t.Shipping.Amount, Discount: t.Discount.Amount,
		Total: t.Total.Amount, Status: string(Pending), PaymentStatus: string(PaymentPending),
		FulfillmentStatus: string(Unfulfilled), ShippingAddress: addressJSON(in.ShippingAddress),
		BillingAddress: addressJSON(billing), CartID: in.CartID, ClientNetwork: nonEmpty(web.NetworkOf(in.ClientIP)),
		ShippingMethodName: chargedMethod(priced), TaxLines: taxLinesJSON(priced.TaxLines),
	}
}

// chargedMethod is the name of the method the order ships with, nil while
// no zone exists.
func chargedMethod(r shipping.Result) *string {
	if r.Charged == nil {
		return nil
	}
	return &r.Charged.Method.Name
}

// taxLinesJSON is the snapshot of the tax lines stored on the order.
func taxLinesJSON(lines []pricing.TaxLine) json.RawMessage {
	out := make([]TaxLine, len(lines))
	for i, l := range lines {
		out[i] = TaxLine{Name: l.Name, Rate: shipping.FormatRate(l.Rate), Minor: l.Amount.Amount}
	}
	b, _ := json.Marshal(out)
	return b
}

// normalizeCheckout checks and canonicalises the input, so that the same
// order asked for twice hashes the same. Every problem is reported at once.
func normalizeCheckout(in CheckoutInput) (CheckoutInput, error) {
	in.Lines = slices.Clone(in.Lines) // canonicalised below; the caller's slice stays as it was
	var errs apperr.List
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	if in.IdempotencyKey == "" || len(in.IdempotencyKey) > maxIdempotencyKey {
		errs = append(errs, apperr.InvalidField(apperr.Path("input", "idempotencyKey"), "must be 1 to %d characters", maxIdempotencyKey))
	}
	email, err := contact.NormalizeEmail(in.Email, apperr.Path("input", "email"))
	errs.Add(err)
	in.Email = email
	in.ShippingAddress, err = customers.NormalizeAddress(in.ShippingAddress, apperr.Path("input", "shippingAddress"))
	errs.Add(err)
	if in.BillingAddress != nil {
		b, err := customers.NormalizeAddress(*in.BillingAddress, apperr.Path("input", "billingAddress"))
		errs.Add(err)
		in.BillingAddress = &b
	}
	errs.Add(normalizeCodes(&in))
	errs.Add(checkLineSource(&in))
	if in.ShippingMethodID != nil {
		// A malformed id cannot serve the cart: checkout says so where it
		// checks the method.
		if id, err := uuid.Parse(*in.ShippingMethodID); err == nil {
			s := id.String()
			in.ShippingMethodID = &s
		}
	}
	return in, errs.Err()
}

// checkLineSource wants exactly one of cartId or lines, and well-formed lines.
func checkLineSource(in *CheckoutInput) error {
	var errs apperr.List
	switch {
	case in.CartID != nil && in.Lines != nil:
		return apperr.InvalidField(apperr.Path("input", "cartId"), "give a cartId or lines, not both")
	case in.CartID != nil:
		id, err := uuid.Parse(*in.CartID)
		if err != nil {
			return apperr.Field(apperr.NotFound, apperr.Path("input", "cartId"), "cart not found")
		}
		s := id.String()
		in.CartID = &s
		return nil
	case len(in.Lines) == 0:
		return apperr.InvalidField(apperr.Path("input", "lines"), "give a cartId or at least one line")
	case len(in.Lines) > maxCheckoutLines:
		return apperr.InvalidField(apperr.Path("input", "lines"), "at most %d lines", maxCheckoutLines)
	}
	for i, l := range in.Lines {
		if named := btoi(l.VariantID != nil) + btoi(l.ProductID != nil) + btoi(l.SKU != nil); named != 1 {
			errs = append(errs, apperr.InvalidField(apperr.Path("input", "lines", i, "productId"), "give exactly one of variantId, sku or productId"))
		}
		if l.Quantity < 1 || l.Quantity > maxLineQuantity {
			errs = append(errs, apperr.InvalidField(apperr.Path("input", "lines", i, "quantity"), "must be between 1 and %d", maxLineQuantity))
		}
		in.Lines[i].ProductID = canonicalUUID(l.ProductID)
		in.Lines[i].VariantID = canonicalUUID(l.VariantID)
	}
	return errs.Err()
}

// canonicalUUID returns the lowercase form of id when it is a UUID, and id
// as it is otherwise (it then matches nothing).
func canonicalUUID(id *string) *string {
	if id == nil {
		return nil
	}
	if u, err := uuid.Parse(*id); err == nil {
		s := u.String()
		return &s
	}
	return id
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hash is the canonical fingerprint of a normalised checkout input and of
// its caller, so that a key binds to who used it: a guest is known by the
// email in the input, a signed-in customer or staff member by their id.
// A guest's fingerprint is the input's alone, as before keys were bound.
func (in CheckoutInput) hash() string {
	b, _ := json.Marshal(in)
	if scope := callerScope(in.Caller); scope != "" {
		b = append(append(b, 0), scope...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
