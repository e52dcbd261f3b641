package tracing

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// continueTrace is the River worker middleware that makes a job's work part
// of the trace that inserted it. otelriver records the inserting span in the
// job's metadata (traceparent) but only links the work span to it, for jobs
// that run days later; ours run seconds after the request that scheduled
// them (the payment-intent retry, the confirmation email), and an operator
// following a checkout wants them in its trace. Placed before otelriver's
// middleware, it puts the remote span context in ctx, so that the work span
// otelriver starts is its child.
type continueTrace struct {
	river.MiddlewareDefaults
	propagator propagation.TextMapPropagator
}

var _ rivertype.WorkerMiddleware = (*continueTrace)(nil)

// Work runs the job in the context of the trace recorded in its metadata,
// or as it is when the metadata holds none.
func (c *continueTrace) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	if trace.SpanContextFromContext(ctx).IsValid() || len(job.Metadata) == 0 {
		return doInner(ctx)
	}
	var carrier map[string]any
	if err := json.Unmarshal(job.Metadata, &carrier); err != nil {
		return doInner(ctx)
	}
	strs := propagation.MapCarrier{}
	for _, k := range c.propagator.Fields() {
		if v, ok := carrier[k].(string); ok {
			strs[k] = v
		}
	}
	return doInner(c.propagator.Extract(ctx, strs))
}
