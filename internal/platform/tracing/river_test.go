package tracing

import (
	"context"
	"testing"

	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// A job's work continues the trace recorded in its metadata, unless the
// context already has one or the metadata holds none.
func TestContinueTrace(t *testing.T) {
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled,
	}))
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		metadata string
		want     string // the trace id seen by the work; empty: none
	}{
		{"recorded trace", context.Background(), `{"traceparent":"00-` + traceID + `-` + spanID + `-01"}`, traceID},
		{"no metadata", context.Background(), ``, ""},
		{"no traceparent", context.Background(), `{"other":1}`, ""},
		{"not JSON", context.Background(), `{`, ""},
		{"already traced", traced, `{"traceparent":"00-` + traceID + `-` + spanID + `-01"}`, trace.TraceID{1}.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mw := &continueTrace{propagator: propagation.TraceContext{}}
			var got trace.SpanContext
			err := mw.Work(tc.ctx, &rivertype.JobRow{Metadata: []byte(tc.metadata)}, func(ctx context.Context) error {
				got = trace.SpanContextFromContext(ctx)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && got.IsValid() || tc.want != "" && got.TraceID().String() != tc.want {
				t.Errorf("work ran in trace %v, want %q", got.TraceID(), tc.want)
			}
			if tc.name == "recorded trace" && (!got.IsRemote() || got.SpanID().String() != spanID) {
				t.Errorf("parent %v, want the remote inserting span %s", got.SpanID(), spanID)
			}
		})
	}
}
