package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Without an endpoint tracing is off: a no-op provider, and every wrapper
// hands back what it was given, so requests pay nothing for it.
func TestSetupWithoutEndpointIsOff(t *testing.T) {
	ctx := context.Background()
	for name, tr := range map[string]*Tracing{
		"nil": nil,
		"no endpoint": mustSetup(t, env(map[string]string{
			"OTEL_SERVICE_NAME": "shop", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		})),
		"sdk disabled": mustSetup(t, env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true",
		})),
	} {
		t.Run(name, func(t *testing.T) {
			if tr.Enabled() {
				t.Fatal("enabled without an endpoint")
			}
			if _, ok := tr.TracerProvider().(noop.TracerProvider); !ok {
				t.Errorf("provider %T, want the no-op provider", tr.TracerProvider())
			}
			h := http.NewServeMux()
			if tr.Handler(h, "/graphql") != http.Handler(h) {
				t.Error("the handler is wrapped")
			}
			if tr.Transport(nil) != nil || tr.Transport(http.DefaultTransport) != http.DefaultTransport {
				t.Error("the transport is wrapped")
			}
			if tr.QueryTracer() != nil || tr.RiverMiddleware() != nil {
				t.Error("SQL or River instrumentation installed")
			}
			if err := tr.InstrumentRedis(nil); err != nil {
				t.Errorf("instrument redis: %v", err)
			}
			got, span := tr.Start(ctx, "x")
			if got != ctx || span.IsRecording() {
				t.Error("Start made a span")
			}
			ran := false
			_ = tr.Run(ctx, "x", func(c context.Context) error {
				ran = c == ctx && !trace.SpanFromContext(c).IsRecording()
				return nil
			})
			if !ran {
				t.Error("Run changed the context or did not run")
			}
			if err := tr.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}

func TestSetupWithEndpoint(t *testing.T) {
	tr := mustSetup(t, env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}))
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	if !tr.Enabled() {
		t.Fatal("off with an endpoint")
	}
	ctx, span := tr.Start(context.Background(), "op")
	defer span.End()
	if !span.IsRecording() || !trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("Start made no recording span")
	}
	if tr.QueryTracer() == nil || len(tr.RiverMiddleware()) != 2 {
		t.Error("SQL or River instrumentation missing")
	}
}

func TestSetupRefuses(t *testing.T) {
	for name, e := range map[string]map[string]string{
		"unknown protocol": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		"not a URL":        {"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"},
		"not http":         {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Setup(context.Background(), env(e), slog.New(slog.DiscardHandler)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func mustSetup(t *testing.T, getenv func(string) string) *Tracing {
	t.Helper()
	tr, err := Setup(context.Background(), getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
