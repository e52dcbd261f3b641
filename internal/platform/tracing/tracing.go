// Package tracing owns OpenTelemetry traces: the tracer provider built from
// the standard OTEL_* environment, and the instrumentation of the service's
// HTTP handler, HTTP clients, SQL statements, Redis calls and River jobs
// with the maintained libraries (otelhttp, otelpgx, redisotel, otelriver).
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. Off means no instrumentation
// at all, not a no-op provider behind every wrapper: each method then
// returns what it was given, so the request path costs nothing more.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName names the service in its spans when OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES do not.
const DefaultServiceName = "commerce"

// scope is the instrumentation scope of the spans this service starts
// itself (GraphQL operations, SMTP sends).
const scope = "commerce"

// Tracing is the service's tracer provider and the instrumentation built on
// it. The zero value and the result of Setup without an endpoint are off.
type Tracing struct {
	provider   *sdktrace.TracerProvider // nil when off
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// Setup builds the tracer provider from the OTEL_* variables read through
// getenv: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the full URL) or
// OTEL_EXPORTER_OTLP_ENDPOINT (the base URL, /v1/traces appended for
// HTTP), OTEL_EXPORTER_OTLP_PROTOCOL or its _TRACES_ form (http/protobuf,
// the default, or grpc), OTEL_SERVICE_NAME. The SDK itself reads the
// others from the process environment (OTEL_TRACES_SAMPLER and its
// _ARG, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES).
// Without an endpoint, or with OTEL_SDK_DISABLED=true, it returns a
// Tracing that is off. The SDK's own errors (a failed export) are logged to
// log at warn: the SDK reports them through a process-wide handler, which
// Setup replaces when tracing is on. It returns an error for an unknown
// protocol or an endpoint that is not an http(s) URL; it makes no network
// call.
func Setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Tracing, error) {
	endpoint, signalURL := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), true
	if endpoint == "" {
		endpoint, signalURL = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), false
	}
	if endpoint == "" || strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") {
		return &Tracing{}, nil
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be http:// or https:// URLs")
	}
	exporter, err := newExporter(ctx, getenv, endpoint, signalURL)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, getenv)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("opentelemetry", "error", err) }))
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{
		provider:   provider,
		tracer:     provider.Tracer(scope),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// newResource describes the service: DefaultServiceName, overridden by
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
func newResource(ctx context.Context, getenv func(string) string) (*resource.Resource, error) {
	fromEnv, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	name := resource.NewSchemaless(semconv.ServiceName(DefaultServiceName))
	if n := getenv("OTEL_SERVICE_NAME"); n != "" { // also from a .env file
		fromEnv, err = resource.Merge(fromEnv, resource.NewSchemaless(semconv.ServiceName(n)))
		if err != nil {
			return nil, fmt.Errorf("otel resource: %w", err)
		}
	}
	res, err := resource.Merge(name, fromEnv)
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	return res, nil
}

func newExporter(ctx context.Context, getenv func(string) string, endpoint string, signalURL bool) (sdktrace.SpanExporter, error) {
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch protocol {
	case "", "http/protobuf":
		if !signalURL {
			endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		return exp, nil
	case "grpc":
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("otlp exporter: %w", err)
		}
		return exp, nil
	}
	return nil, errors.New("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc")
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// TracerProvider is the provider spans come from: a no-op one when off.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if !t.Enabled() {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// Shutdown exports the spans still buffered and stops the exporter; call it
// once, last, with a bounded context. It returns the exporter's error.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Handler returns h with a server span per request that continues the
// trace of an incoming W3C traceparent header; h itself when off.
func (t *Tracing) Handler(h http.Handler, operation string) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation, t.httpOptions()...)
}

// Transport returns rt (http.DefaultTransport when nil) with a client span
// per outgoing request and the trace context in its headers; rt itself
// when off.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	if rt == nil {
		rt = http.DefaultTransport
	}
	return otelhttp.NewTransport(rt, t.httpOptions()...)
}

func (t *Tracing) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // metrics are Prometheus's
	}
}

// QueryTracer returns the pgx tracer that records a span per SQL statement
// run inside a traced context (otelpgx starts none without a parent span,
// so River's polling adds no traces); nil when off. The spans are named by
// the statement's verb and leave its text out: bun writes the arguments
// (emails, addresses, password hashes) into the SQL text.
func (t *Tracing) QueryTracer() pgx.QueryTracer {
	if !t.Enabled() {
		return nil
	}
	return otelpgx.NewTracer(
		otelpgx.WithTracerProvider(t.provider),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelpgx.WithDisableConnectionDetailsInAttributes(),
		otelpgx.WithDisableSQLStatementInAttributes(),
	)
}

// InstrumentRedis adds a span per Redis command or pipeline to c. Command
// arguments are left out of the spans: keys and values hold addresses and
// tokens. It does nothing when off and returns redisotel's error.
func (t *Tracing) InstrumentRedis(c redis.UniversalClient) error {
	if !t.Enabled() {
		return nil
	}
	return redisotel.InstrumentTracing(c,
		redisotel.WithTracerProvider(t.provider), redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false))
}

// RiverMiddleware returns River's OpenTelemetry middleware, for the inserter
// and the worker client alike: an insert records the inserting span's trace
// context in the job's metadata, and the job's work span continues that
// trace (continueTrace makes it the parent; otelriver alone only links to
// it). Nil when off.
func (t *Tracing) RiverMiddleware() []rivertype.Middleware {
	if !t.Enabled() {
		return nil
	}
	return []rivertype.Middleware{
		&continueTrace{propagator: propagation.TraceContext{}},
		otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			EnableTracePropagation:      true,
			EnableWorkSpanJobKindSuffix: true,
			TracerProvider:              t.provider,
			MeterProvider:               metricnoop.NewMeterProvider(),
		}),
	}
}

// Run runs fn inside a span named name, recording its error; it just runs
// fn when off. It is for the calls no instrumentation library covers (an
// SMTP send).
func (t *Tracing) Run(ctx context.Context, name string, fn func(context.Context) error, attrs ...attribute.KeyValue) error {
	if !t.Enabled() {
		return fn(ctx)
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	err := fn(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// Start starts a span named name, as the child of ctx's span; when off it
// returns ctx and a no-op span without allocating.
func (t *Tracing) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !t.Enabled() {
		return ctx, noop.Span{}
	}
	return t.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}
