// Package queue names River's queues. Jobs are split by concern so that a
// slow dependency can only slow its own queue: a hung SMTP server holds
// notify workers, never the payment timeouts of the workflow queue. Each
// job's arguments name their queue (river.JobArgsWithInsertOpts), so every
// insert, wherever it happens, lands on the right one. Outbound webhooks,
// whose receivers may hang, have a queue of their own the same way.
//
// It is a leaf package: the domain packages that define job arguments
// import it, and the jobs package, which imports them, configures the
// queues' workers.
package queue

// The queues.
const (
	// Workflow holds the order workflow: payment timeouts, payment intents,
	// refunds, the dummy provider's confirmations and the scheduled
	// follow-ups of orders and carts (which only enqueue notifications).
	Workflow = "workflow"
	// Notify holds the deliveries of notifications to the email and SMS
	// providers.
	Notify = "notify"
	// Periodic holds the jobs River's leader enqueues on a schedule: the
	// daily inventory report and the outbox sweeper.
	Periodic = "periodic"
	// Webhooks holds the deliveries of outbound webhooks, whose receivers
	// may be slow or down.
	Webhooks = "webhooks"
)
