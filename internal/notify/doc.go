// Package notify owns the notification outbox: a business transaction that
// must tell someone something inserts a notifications row and a River job in
// the same transaction; the job renders the embedded template and sends it
// through the configured sender, retrying with backoff until it is SENT or
// finally FAILED with the error kept. It also owns what makes an email a
// marketing email: the list of marketing templates, the suppression of
// those to unsubscribed addresses, and the signed one-click unsubscribe
// link and handler.
//
// # Accounting
//
// The row is the one source of truth about its delivery. It gets its
// attempt budget (max_attempts, NOTIFY_MAX_ATTEMPTS at the time) when it is
// enqueued, and its job gets the same; each attempt is counted on the row
// before the send, so a send is never uncounted when the write of its
// outcome is lost, and final failure is decided from the row's two counts
// alone. When River gives up on a job anyway (the database failed during
// its writes, or the process died during its last attempt), the periodic
// Sweep finds the row PENDING without a live job and requeues it for the
// attempts it has left or makes it FAILED. A crash after a successful send
// costs at worst a second copy of the message.
//
// # Templates
//
// The templates live in templates/: for each email a text file
// (templates/email/NAME.txt, whose "subject" block is the subject and whose
// body is the plain-text part) and an HTML body (NAME.html, a "content" block
// inside templates/layout.html, rendered with html/template so data is
// escaped); for each SMS a text file (templates/sms/NAME.txt). A key missing
// from the data renders as nothing, so an optional section simply vanishes.
//
// Data values are shown as given: amounts arrive preformatted with their
// currency ("42.50 USD"), dates preformatted, numbers as numbers. Every
// template may use storefront_url, which Deliver fills from
// Config.StorefrontURL when the data lacks it, and customer-facing ones use
// customer_name in the greeting ("Hi there" without it). A "lines" value is a
// list of objects {name, quantity, line_total, variant}, variant (the
// variant's title) only for products with options. Marketing emails
// (abandoned-cart, review-request; see MarketingTemplates) also get
// unsubscribe_url, filled by Deliver, which the footer shows.
//
//	low-stock-alert         product_name, variant_title, sku, available_quantity, threshold
//	order-confirmation      order_number, customer_name, lines, subtotal,
//	                        discount (optional), shipping, shipping_method
//	                        (optional), tax, tax_lines [{name, rate, amount}]
//	                        (optional), total, order_url
//	order-failed-inventory  order_number, customer_name, reason (optional),
//	                        refund_amount (optional)
//	payment-timeout         order_number, customer_name, total
//	payment-failed          order_number, customer_name, total,
//	                        reason (optional), order_url (where to retry)
//	order-refunded          order_number, customer_name, amount, lines
//	                        [{name, variant, quantity}] (optional),
//	                        includes_shipping, reason, order_url (optional)
//	return-requested        order_number, customer_name, return_number,
//	return-approved         lines [{name, variant, quantity, reason}], note
//	return-rejected         (the customer's when requested, staff's when
//	                        approved or rejected; optional), order_url
//	return-refunded         the same and amount, without note
//	order-shipped           order_number, customer_name, tracking_number,
//	                        carrier, tracking_url, order_url (all but the
//	                        tracking number optional)
//	order-shipped-sms (SMS) order_number, tracking_number, carrier,
//	                        tracking_url
//	fulfillment-reminder    order_number, order_id, placed_at, lines
//	abandoned-cart          customer_name, lines, subtotal, cart_url
//	                        (marketing)
//	review-request          customer_name, order_number, lines (each may
//	                        carry its own review_url), review_url
//	                        (marketing)
//	delivery-confirmation   customer_name, order_number, order_url
//	daily-inventory-report  date, low_stock_count, low_stock_products (each
//	                        name, variant, sku, available_quantity, threshold)
package notify
