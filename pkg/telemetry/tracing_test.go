package telemetry

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// clearOTelEnv blanks every variable SetupTracing looks at, so the machine's
// environment cannot leak into a test.
func clearOTelEnv(t *testing.T) {
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	} {
		t.Setenv(k, "")
	}
}

func TestTracingEnabled(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{"nothing set", nil, false, false},
		{"generic endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true, false},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317"}, true, false},
		{"otlp exporter named alone", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{"exporter none wins over endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, false, false},
		{"sdk disabled wins", map[string]string{"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, false, false},
		{"sdk disabled false", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true, false},
		{"grpc protocol", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true, false},
		{"http protocol unsupported", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, true},
		{"traces protocol overrides generic", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, true, false},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
		{"protocol alone does not enable", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tracingEnabled(func(k string) string { return tt.env[k] })
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("tracingEnabled = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnsupportedTracing) {
				t.Errorf("error %v does not wrap ErrUnsupportedTracing", err)
			}
		})
	}
}

func TestSetupTracingNoop(t *testing.T) {
	clearOTelEnv(t)
	tp, shutdown, err := SetupTracing(t.Context(), TracingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Fatalf("provider is %T, want noop.TracerProvider", tp)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}

	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	tp, _, err = SetupTracing(t.Context(), TracingOptions{})
	if !errors.Is(err, ErrUnsupportedTracing) {
		t.Fatalf("err = %v, want ErrUnsupportedTracing", err)
	}
	if _, ok := tp.(noop.TracerProvider); !ok {
		t.Fatalf("on error the provider is %T, want a usable noop", tp)
	}
}

// collector is a minimal OTLP/gRPC trace receiver.
type collector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.ResourceSpans
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, req.GetResourceSpans()...)
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return c, lis.Addr().String()
}

func TestSetupTracingExportsToOTLPEndpoint(t *testing.T) {
	clearOTelEnv(t)
	col, addr := startCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+addr) // http:// means no TLS
	t.Setenv("OTEL_SERVICE_NAME", "gw-under-test")

	tp, shutdown, err := SetupTracing(t.Context(), TracingOptions{ServiceVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := StartRequestSpan(t.Context(), tp.Tracer("test"), map[string]string{
		":method": "POST", ":path": "/v1/chat/completions",
	})
	AnnotateRequest(span, RequestAttrs{Operation: "chat", Model: "gpt-4o"})
	EndRequestSpan(span, 200, "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.spans) != 1 {
		t.Fatalf("collector got %d resource spans, want 1", len(col.spans))
	}
	rs := col.spans[0]
	res := map[string]string{}
	for _, kv := range rs.GetResource().GetAttributes() {
		res[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if res["service.name"] != "gw-under-test" || res["service.version"] != "1.2.3" {
		t.Errorf("resource = %v, want service.name from OTEL_SERVICE_NAME and version 1.2.3", res)
	}
	got := rs.GetScopeSpans()[0].GetSpans()[0]
	if got.GetName() != "chat gpt-4o" || got.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("span = %q kind %v, want \"chat gpt-4o\" CLIENT", got.GetName(), got.GetKind())
	}
}
