package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"commerce/graph/model"
	"commerce/graph/scalar"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/money"
	"commerce/internal/notify"
	"commerce/internal/orders"
	"commerce/internal/realtime"
)

// This file holds the named converters between domain types and GraphQL
// types. Nothing is assigned across the boundary anywhere else.

func toMoney(m money.Money) *model.Money {
	return &model.Money{Amount: scalar.Decimal(m.Decimal()), CurrencyCode: m.Currency}
}

func toMoneyPtr(m *money.Money) *model.Money {
	if m == nil {
		return nil
	}
	return toMoney(*m)
}

func toAddress(a *customers.Address) *model.Address {
	if a == nil {
		return nil
	}
	var id *string
	if a.ID != "" {
		id = &a.ID
	}
	return &model.Address{
		ID: id, FirstName: a.FirstName, LastName: a.LastName, Company: a.Company,
		Line1: a.Line1, Line2: a.Line2, City: a.City, Region: a.Region,
		PostalCode: a.PostalCode, CountryCode: a.CountryCode, Phone: a.Phone,
	}
}

func toCustomer(c *customers.Customer) *model.Customer {
	if c == nil {
		return nil
	}
	addrs := make([]*model.Address, len(c.Addresses))
	for i := range c.Addresses {
		addrs[i] = toAddress(&c.Addresses[i])
	}
	return &model.Customer{
		ID: c.ID, Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone,
		Addresses: addrs, DefaultAddress: toAddress(c.DefaultAddress()),
		TotalOrders: c.TotalOrders, TotalSpent: toMoney(c.TotalSpent), MarketingOptIn: c.MarketingOptIn,
		StripeCustomerID: c.StripeCustomerID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Registered: c.Registered, EmailVerified: c.EmailVerified,
	}
}

func toCustomerRegisterInput(in model.CustomerRegisterInput) customers.RegisterInput {
	return customers.RegisterInput{
		Email: in.Email, Password: in.Password, FirstName: in.FirstName, LastName: in.LastName,
		Phone: in.Phone, MarketingOptIn: in.MarketingOptIn,
	}
}

func toPageInfo(hasNext, hasPrev bool, cursors []string) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrev}
	if len(cursors) > 0 {
		pi.StartCursor = &cursors[0]
		pi.EndCursor = &cursors[len(cursors)-1]
	}
	return pi
}

func toCustomerConnection(p *customers.Page, hasPrev bool, count scalar.Counter) *model.CustomerConnection {
	edges := make([]*model.CustomerEdge, len(p.Customers))
	for i, c := range p.Customers {
		edges[i] = &model.CustomerEdge{Node: toCustomer(c), Cursor: p.Cursors[i]}
	}
	return &model.CustomerConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, hasPrev, p.Cursors), Count: count}
}

func toProduct(p *catalog.Product) *model.Product {
	if p == nil {
		return nil
	}
	out := &model.Product{
		ID: p.ID, Sku: p.SKU, Handle: p.Handle, Name: p.Name, Description: p.Description,
		Price: toMoney(p.Price), CompareAtPrice: toMoneyPtr(p.CompareAtPrice), CostPrice: toMoneyPtr(p.CostPrice),
		Category: p.Category, Tags: p.Tags, InventoryQuantity: p.OnHand, AvailableQuantity: p.Available,
		LowStockThreshold: p.LowStockThreshold, IsActive: p.IsActive, IsFeatured: p.IsFeatured,
		WeightGrams: p.WeightGrams, TaxClass: p.TaxClass, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		HasOnlyDefaultVariant: !p.HasOptions,
		PriceRange:            &model.PriceRange{MinVariantPrice: toMoney(p.Price), MaxVariantPrice: toMoney(p.MaxPrice)},
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	out.Dimensions = toDimensions(p.Dimensions)
	return out
}

func toDimensions(d *catalog.Dimensions) *model.Dimensions {
	if d == nil {
		return nil
	}
	return &model.Dimensions{LengthMm: d.LengthMm, WidthMm: d.WidthMm, HeightMm: d.HeightMm}
}

func toVariant(v *catalog.Variant) *model.ProductVariant {
	if v == nil {
		return nil
	}
	return &model.ProductVariant{
		ID: v.ID, ProductID: v.ProductID, Sku: v.SKU, Title: v.Title, SelectedOptions: toSelectedOptions(v.SelectedOptions),
		Price: toMoney(v.Price), CompareAtPrice: toMoneyPtr(v.CompareAtPrice), CostPrice: toMoneyPtr(v.CostPrice),
		InventoryQuantity: v.OnHand, AvailableQuantity: v.Available, LowStockThreshold: v.LowStockThreshold,
		WeightGrams: v.WeightGrams, Dimensions: toDimensions(v.Dimensions), ImageID: v.ImageID, Position: v.Position,
		IsActive: v.IsActive, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
}

func toSelectedOptions(opts []catalog.SelectedOption) []*model.SelectedOption {
	out := make([]*model.SelectedOption, len(opts))
	for i, o := range opts {
		out[i] = &model.SelectedOption{Name: o.Name, Value: o.Value}
	}
	return out
}

func fromSelectedOptions(in []*model.SelectedOptionInput) []catalog.SelectedOption {
	out := make([]catalog.SelectedOption, len(in))
	for i, o := range in {
		out[i] = catalog.SelectedOption{Name: o.Name, Value: o.Value}
	}
	return out
}

func toProductConnection(p catalog.Page, filter catalog.Filter, count scalar.Counter) *model.ProductConnection {
	edges := make([]*model.ProductEdge, len(p.Products))
	for i, prod := range p.Products {
		edges[i] = &model.ProductEdge{Node: toProduct(prod), Cursor: p.Cursors[i]}
	}
	return &model.ProductConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, p.Cursors),
		Count: count, Filter: filter}
}

func toDimensionsInput(d *model.DimensionsInput) *catalog.DimensionsInput {
	if d == nil {
		return nil
	}
	return &catalog.DimensionsInput{LengthMm: d.LengthMm, WidthMm: d.WidthMm, HeightMm: d.HeightMm}
}

func decimalPtr(d *scalar.Decimal) *string {
	if d == nil {
		return nil
	}
	s := string(*d)
	return &s
}

func toProductCreateInput(in model.ProductCreateInput) catalog.CreateInput {
	out := catalog.CreateInput{
		SKU: in.Sku, Handle: in.Handle, Name: in.Name, Description: in.Description, Price: decimalPtr(in.Price),
		CompareAtPrice: decimalPtr(in.CompareAtPrice), CostPrice: decimalPtr(in.CostPrice), CurrencyCode: in.CurrencyCode,
		Category: in.Category, Tags: in.Tags, InventoryQuantity: in.InventoryQuantity, LowStockThreshold: in.LowStockThreshold,
		IsActive: in.IsActive, IsFeatured: in.IsFeatured, WeightGrams: in.WeightGrams, Dimensions: toDimensionsInput(in.Dimensions),
		TaxClass: in.TaxClass, Variants: toVariantInputs(in.Variants),
	}
	if in.Options != nil {
		out.Options = make([]catalog.OptionInput, len(in.Options))
		for i, o := range in.Options {
			out.Options[i] = catalog.OptionInput{Name: o.Name, Values: o.Values}
		}
	}
	return out
}

func toVariantInputs(in []*model.ProductVariantInput) []catalog.VariantInput {
	if in == nil {
		return nil
	}
	out := make([]catalog.VariantInput, len(in))
	for i, v := range in {
		out[i] = catalog.VariantInput{
			SKU: v.Sku, SelectedOptions: fromSelectedOptions(v.SelectedOptions), Price: string(v.Price),
			CompareAtPrice: decimalPtr(v.CompareAtPrice), CostPrice: decimalPtr(v.CostPrice),
			InventoryQuantity: v.InventoryQuantity, LowStockThreshold: v.LowStockThreshold, WeightGrams: v.WeightGrams,
			Dimensions: toDimensionsInput(v.Dimensions), ImageID: v.ImageID, IsActive: v.IsActive,
		}
	}
	return out
}

// toVariantUpdateInput converts the input; nulls are the fields the client
// set to null, which clear the optional ones.
func toVariantUpdateInput(in model.ProductVariantUpdateInput, nulls []string) catalog.VariantUpdateInput {
	return catalog.VariantUpdateInput{
		SKU: in.Sku, Price: decimalPtr(in.Price), CompareAtPrice: decimalPtr(in.CompareAtPrice),
		CostPrice: decimalPtr(in.CostPrice), LowStockThreshold: in.LowStockThreshold, WeightGrams: in.WeightGrams,
		Dimensions: toDimensionsInput(in.Dimensions), ImageID: in.ImageID, IsActive: in.IsActive, Position: in.Position,
		Clear: nulls,
	}
}

// toProductUpdateInput converts the input; nulls are the fields the client
// set to null, which clear the optional ones (an omitted field is left as
// it is).
func toProductUpdateInput(in model.ProductUpdateInput, nulls []string) catalog.UpdateInput {
	return catalog.UpdateInput{
		Handle: in.Handle, Name: in.Name, Description: in.Description, Price: decimalPtr(in.Price),
		CompareAtPrice: decimalPtr(in.CompareAtPrice), CostPrice: decimalPtr(in.CostPrice), Category: in.Category,
		Tags: in.Tags, LowStockThreshold: in.LowStockThreshold, IsActive: in.IsActive, IsFeatured: in.IsFeatured,
		WeightGrams: in.WeightGrams, Dimensions: toDimensionsInput(in.Dimensions), Clear: nulls, TaxClass: in.TaxClass,
	}
}

// explicitNulls lists the fields of the input object argument arg that the
// request set to null, literally or through a variable: gqlgen's Go input
// types cannot tell null from omitted.
func explicitNulls(ctx context.Context, arg string) []string {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil {
		return nil
	}
	input, _ := fc.Field.ArgumentMap(graphql.GetOperationContext(ctx).Variables)[arg].(map[string]any)
	var out []string
	for name, v := range input {
		if v == nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func toProductFilter(f *model.ProductFilter) catalog.Filter {
	if f == nil {
		return catalog.Filter{}
	}
	return catalog.Filter{
		Category: f.Category, Search: f.Search, Tags: f.Tags, MinPrice: decimalPtr(f.MinPrice), MaxPrice: decimalPtr(f.MaxPrice),
		InStock: f.InStock, IsFeatured: f.IsFeatured, IncludeInactive: deref(f.IncludeInactive),
		Options: fromSelectedOptions(f.Options), Categories: f.Categories,
	}
}

func toSortKey(k *model.ProductSortKey) catalog.SortKey {
	if k == nil {
		return ""
	}
	return catalog.SortKey(*k)
}

func toInventoryTransaction(t *inventory.Transaction) *model.InventoryTransaction {
	if t == nil {
		return nil
	}
	return &model.InventoryTransaction{
		ID: t.ID, ProductID: t.ProductID, VariantID: t.VariantID, Sku: t.SKU, QuantityChange: t.QuantityChange,
		Type: model.InventoryTransactionType(t.Type), ReferenceID: t.ReferenceID, Notes: t.Notes, CreatedAt: t.CreatedAt,
	}
}

func toInventoryAdjustInput(in model.InventoryAdjustInput) inventory.AdjustInput {
	return inventory.AdjustInput{
		VariantID: deref(in.VariantID), ProductID: deref(in.ProductID), QuantityChange: in.QuantityChange, Type: inventory.TxType(in.Type),
		ReferenceID: in.ReferenceID, Notes: in.Notes,
	}
}

func toInventoryTransactionConnection(p inventory.TxPage, count scalar.Counter) *model.InventoryTransactionConnection {
	edges := make([]*model.InventoryTransactionEdge, len(p.Transactions))
	for i := range p.Transactions {
		edges[i] = &model.InventoryTransactionEdge{Node: toInventoryTransaction(&p.Transactions[i]), Cursor: p.Cursors[i]}
	}
	return &model.InventoryTransactionConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, p.Cursors), Count: count}
}

func toNotification(n notify.Notification) *model.Notification {
	data := n.Data
	if data == nil {
		data = map[string]any{}
	}
	return &model.Notification{
		ID: n.ID, Channel: model.NotificationChannel(n.Channel), To: n.To, Template: n.Template, Data: data,
		Status: model.NotificationStatus(n.Status), Attempts: n.Attempts, LastError: n.LastError,
		CreatedAt: n.CreatedAt, SentAt: n.SentAt,
	}
}

func toNotificationConnection(p notify.Page, count scalar.Counter) *model.NotificationConnection {
	edges := make([]*model.NotificationEdge, len(p.Edges))
	cursors := make([]string, len(p.Edges))
	for i, e := range p.Edges {
		edges[i] = &model.NotificationEdge{Node: toNotification(e.Node), Cursor: e.Cursor}
		cursors[i] = e.Cursor
	}
	return &model.NotificationConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, cursors), Count: count}
}

func toCart(c *carts.Cart, p carts.Priced) *model.Cart {
	lines := make([]*model.CartLine, len(p.Lines))
	for i, l := range p.Lines {
		lines[i] = &model.CartLine{ID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID, Quantity: l.Quantity,
			UnitPrice: toMoney(l.UnitPrice), LineTotal: toMoney(l.LineTotal), Discount: toMoney(l.Discount)}
	}
	out := &model.Cart{
		ID: c.ID, Email: c.Email, Lines: lines,
		Subtotal: toMoney(p.Totals.Subtotal), Tax: toMoney(p.Totals.Tax), ShippingCost: toMoney(p.Totals.Shipping),
		Discount: toMoney(p.Totals.Discount), Total: toMoney(p.Totals.Total), DiscountCodes: nonNilStrings(c.DiscountCodes),
		DiscountAllocations: toDiscountAllocations(p.Allocations, c.Currency),
		CreatedAt:           c.CreatedAt, UpdatedAt: c.UpdatedAt,
		ShippingAddress: toAddress(c.ShippingAddress), ShippingQuotes: toShippingQuotes(p.Shipping.Quotes),
		TaxLines: toTaxLines(p.Shipping.TaxLines), TaxIsEstimate: p.TaxIsEstimate,
	}
	if m := p.Shipping.Chosen; m != nil {
		out.ShippingMethod = toShippingMethod(m)
	}
	return out
}

func toCartLineInputs(in []*model.CartLineInput) []carts.LineInput {
	out := make([]carts.LineInput, len(in))
	for i, l := range in {
		out[i] = carts.LineInput{VariantID: l.VariantID, ProductID: l.ProductID, SKU: l.Sku, Quantity: l.Quantity}
	}
	return out
}

func toCartLineUpdates(in []*model.CartLineUpdateInput) []carts.LineUpdate {
	out := make([]carts.LineUpdate, len(in))
	for i, l := range in {
		out[i] = carts.LineUpdate{ID: l.ID, Quantity: l.Quantity}
	}
	return out
}

func fromAddressInput(a *model.AddressInput) *customers.Address {
	if a == nil {
		return nil
	}
	return &customers.Address{
		FirstName: a.FirstName, LastName: a.LastName, Company: a.Company, Line1: a.Line1, Line2: a.Line2,
		City: a.City, Region: a.Region, PostalCode: a.PostalCode, CountryCode: a.CountryCode, Phone: a.Phone,
	}
}

// toCheckoutInput converts a checkout with who sent it and from where.
func toCheckoutInput(in model.CheckoutInput, caller auth.Principal, clientIP string) orders.CheckoutInput {
	out := orders.CheckoutInput{
		CartID: in.CartID, Email: in.Email, BillingAddress: fromAddressInput(in.BillingAddress),
		DiscountCodes: in.DiscountCodes, IdempotencyKey: in.IdempotencyKey, Caller: caller, ClientIP: clientIP,
		ShippingMethodID: in.ShippingMethodID,
	}
	if a := fromAddressInput(in.ShippingAddress); a != nil {
		out.ShippingAddress = *a
	}
	if in.Lines != nil {
		out.Lines = make([]orders.LineInput, len(in.Lines))
		for i, l := range in.Lines {
			out.Lines[i] = orders.LineInput{VariantID: l.VariantID, ProductID: l.ProductID, SKU: l.Sku, Quantity: l.Quantity}
		}
	}
	return out
}

// toOrder converts an order; access says what the caller may see of it.
func toOrder(o *orders.Order, access orders.Access) *model.Order {
	if o == nil {
		return nil
	}
	m := &model.Order{
		ID: o.ID, OrderNumber: o.Number, CustomerID: o.CustomerID, Email: o.Email,
		Subtotal: toMoney(o.Subtotal), Tax: toMoney(o.Tax), ShippingCost: toMoney(o.Shipping),
		Discount: toMoney(o.Discount), Total: toMoney(o.Total),
		DiscountAllocations: toDiscountAllocations(o.DiscountAllocations, o.Total.Currency),
		Status:              model.OrderStatus(o.Status), PaymentStatus: model.PaymentStatus(o.PaymentStatus),
		FulfillmentStatus: model.FulfillmentStatus(o.FulfillmentStatus), StripePaymentIntentID: o.PaymentIntentID,
		ShippingAddress: toAddress(&o.ShippingAddress), BillingAddress: toAddress(&o.BillingAddress),
		Carrier: o.Carrier, TrackingNumber: o.TrackingNumber, TrackingURL: o.TrackingURL,
		ShippedAt: o.ShippedAt, DeliveredAt: o.DeliveredAt, Notes: o.Notes, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
		ShowCustomer: access.Customer, ShowReturns: access.Secret, ShippingMethodName: o.ShippingMethodName, TaxLines: toOrderTaxLines(o.TaxLines),
		RefundedAmount: toMoney(o.Refunded), RefundableAmount: toMoney(o.Refundable()),
	}
	if access.Secret {
		m.PaymentClientSecret = o.PayableSecret()
	}
	return m
}

func toOrderLines(ls []orders.Line) []*model.OrderLine {
	out := make([]*model.OrderLine, len(ls))
	for i, l := range ls {
		out[i] = &model.OrderLine{ID: l.ID, ProductID: l.ProductID, VariantID: l.VariantID, VariantTitle: l.VariantTitle,
			SelectedOptions: toSelectedOptions(l.SelectedOptions), Sku: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPrice: toMoney(l.UnitPrice), LineTotal: toMoney(l.LineTotal), Discount: toMoney(l.Discount),
			RefundedQuantity: l.RefundedQuantity, ReturnedQuantity: l.ReturnedQuantity, FulfilledQuantity: l.FulfilledQuantity}
	}
	return out
}

func toOrderEvents(es []orders.Event) []*model.OrderEvent {
	out := make([]*model.OrderEvent, len(es))
	for i, e := range es {
		out[i] = &model.OrderEvent{Type: e.Type, Message: e.Message, CreatedAt: e.CreatedAt, StaffUserID: e.StaffUserID}
	}
	return out
}

func toOrderConnection(p *orders.Page, access func(*orders.Order) orders.Access, count scalar.Counter) *model.OrderConnection {
	edges := make([]*model.OrderEdge, len(p.Orders))
	for i, o := range p.Orders {
		edges[i] = &model.OrderEdge{Node: toOrder(o, access(o)), Cursor: p.Cursors[i]}
	}
	return &model.OrderConnection{Edges: edges, PageInfo: toPageInfo(p.HasNextPage, p.HasPreviousPage, p.Cursors), Count: count}
}

func toOrderFilter(f *model.OrderFilter) orders.Filter {
	if f == nil {
		return orders.Filter{}
	}
	out := orders.Filter{CustomerID: f.CustomerID, Email: f.Email, CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore}
	if f.Status != nil {
		s := orders.Status(*f.Status)
		out.Status = &s
	}
	if f.PaymentStatus != nil {
		s := orders.PaymentStatus(*f.PaymentStatus)
		out.PaymentStatus = &s
	}
	if f.FulfillmentStatus != nil {
		s := orders.FulfillmentStatus(*f.FulfillmentStatus)
		out.FulfillmentStatus = &s
	}
	return out
}

func toOrderStatusEvent(e realtime.OrderStatus) *model.OrderStatusEvent {
	return &model.OrderStatusEvent{
		OrderID: e.OrderID, OrderNumber: e.OrderNumber, Status: model.OrderStatus(e.Status),
		PaymentStatus: model.PaymentStatus(e.PaymentStatus), FulfillmentStatus: model.FulfillmentStatus(e.FulfillmentStatus),
		Timestamp: e.Timestamp,
	}
}

func orderStatusOf(o *orders.Order) *model.OrderStatusEvent {
	return &model.OrderStatusEvent{
		OrderID: o.ID, OrderNumber: o.Number, Status: model.OrderStatus(o.Status),
		PaymentStatus: model.PaymentStatus(o.PaymentStatus), FulfillmentStatus: model.FulfillmentStatus(o.FulfillmentStatus),
		Timestamp: o.UpdatedAt,
	}
}
