package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName is service.name when OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES say nothing.
const DefaultServiceName = "llm-gateway"

// TracingOptions are the few settings that do not come from OTEL_* variables.
type TracingOptions struct {
	// ServiceVersion becomes the service.version resource attribute.
	ServiceVersion string
}

// ErrUnsupportedTracing reports an OTEL_* setting this build cannot honour.
var ErrUnsupportedTracing = errors.New("telemetry: unsupported tracing setting")

// SetupTracing builds the tracer provider the standard OTEL_* variables ask
// for. With none of them set, or with OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none, it returns a no-op provider: no exporter, no
// goroutines, and spans that cost nothing. Otherwise spans go through a batch
// processor to an OTLP/gRPC exporter, which reads its endpoint, headers, TLS
// and timeout from OTEL_EXPORTER_OTLP_* itself; the sampler follows
// OTEL_TRACES_SAMPLER and the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. The provider is returned, never installed
// globally. shutdown flushes pending spans and must be called on exit.
//
// On error the no-op provider is still returned, so a caller may log the
// problem and serve without traces rather than refuse to start.
func SetupTracing(ctx context.Context, opts TracingOptions) (trace.TracerProvider, func(context.Context) error, error) {
	disabled := func(err error) (trace.TracerProvider, func(context.Context) error, error) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, err
	}
	enabled, err := tracingEnabled(os.Getenv)
	if err != nil || !enabled {
		return disabled(err)
	}
	res, err := newResource(ctx, opts)
	if err != nil {
		return disabled(err)
	}
	exp, err := otlptracegrpc.New(ctx)
	if err != nil {
		return disabled(fmt.Errorf("telemetry: OTLP trace exporter: %w", err))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// tracingEnabled decides from the environment whether spans are exported.
// It only enables tracing when an OTLP destination or exporter is named, so a
// bare deployment never dials localhost:4317 in the background.
func tracingEnabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	otlp := false
	for name := range strings.SplitSeq(getenv("OTEL_TRACES_EXPORTER"), ",") {
		switch strings.TrimSpace(strings.ToLower(name)) {
		case "":
		case "none":
			return false, nil
		case "otlp":
			otlp = true
		default:
			return false, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%q (only otlp and none)", ErrUnsupportedTracing, name)
		}
	}
	if !otlp && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != "grpc" {
		return false, fmt.Errorf("%w: OTLP protocol %q (only grpc)", ErrUnsupportedTracing, protocol)
	}
	return true, nil
}

// newResource names the service; variables win over the built-in default
// because the fromEnv detector runs after the default attributes.
func newResource(ctx context.Context, opts TracingOptions) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", DefaultServiceName)}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", opts.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: trace resource: %w", err)
	}
	return res, nil
}
