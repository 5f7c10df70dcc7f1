package telemetry

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
	incomingTP     = "00-" + incomingTrace + "-" + incomingParent + "-01"
)

func newRecorder(t testing.TB) (trace.Tracer, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("test"), exp
}

func TestStartRequestSpanParent(t *testing.T) {
	tests := []struct {
		name       string
		headers    map[string]string
		wantParent bool
		wantName   string
	}{
		{"continues Envoy's traceparent", map[string]string{
			":method": "POST", ":path": "/v1/chat/completions", "traceparent": incomingTP, "tracestate": "vendor=x",
		}, true, "chat"},
		{"new root without traceparent", map[string]string{":method": "POST", ":path": "/v1/chat/completions"}, false, "chat"},
		{"garbage traceparent starts a root", map[string]string{":method": "POST", ":path": "/v1/chat/completions", "traceparent": "zz-nope"}, false, "chat"},
		{"other endpoints are named by method", map[string]string{":method": "GET", ":path": "/v1/models"}, false, "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tracer, exp := newRecorder(t)
			_, span := StartRequestSpan(t.Context(), tracer, tt.headers)
			span.End()
			got := exp.GetSpans()[0]
			if got.Parent.IsValid() != tt.wantParent {
				t.Fatalf("parent valid = %v, want %v", got.Parent.IsValid(), tt.wantParent)
			}
			if tt.wantParent && (got.Parent.TraceID().String() != incomingTrace || got.Parent.SpanID().String() != incomingParent) {
				t.Errorf("parent = %v, want the incoming span", got.Parent)
			}
			if tt.wantParent && got.SpanContext.TraceState().Get("vendor") != "x" {
				t.Errorf("tracestate lost: %q", got.SpanContext.TraceState().String())
			}
			if got.Name != tt.wantName || got.SpanKind != trace.SpanKindClient {
				t.Errorf("span %q kind %v, want %q CLIENT", got.Name, got.SpanKind, tt.wantName)
			}
		})
	}
}

func TestStartRequestSpanDropsQuery(t *testing.T) {
	tracer, exp := newRecorder(t)
	_, span := StartRequestSpan(t.Context(), tracer, map[string]string{
		":method": "POST", ":path": "/v1/chat/completions?api-key=sk-secret", "x-request-id": "req-1",
		"authorization": "Bearer sk-secret",
	})
	span.End()
	for _, kv := range exp.GetSpans()[0].Attributes {
		if strings.Contains(kv.Value.Emit(), "sk-secret") {
			t.Errorf("attribute %s leaks a secret: %q", kv.Key, kv.Value.Emit())
		}
	}
	attrs := attrMap(exp.GetSpans()[0])
	if attrs["url.path"] != "/v1/chat/completions" || attrs["gateway.request_id"] != "req-1" {
		t.Errorf("attributes = %v", attrs)
	}
}

func TestInjectHeaders(t *testing.T) {
	tracer, _ := newRecorder(t)
	ctx, span := StartRequestSpan(t.Context(), tracer, map[string]string{
		":path": "/v1/chat/completions", "traceparent": incomingTP, "tracestate": "vendor=x",
	})
	defer span.End()
	got := InjectHeaders(ctx)
	want := [][2]string{
		{"traceparent", "00-" + incomingTrace + "-" + span.SpanContext().SpanID().String() + "-01"},
		{"tracestate", "vendor=x"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("InjectHeaders = %v, want %v", got, want)
	}
	if InjectHeaders(t.Context()) != nil {
		t.Error("a context without a span must inject nothing")
	}
}

func TestSpanAnnotations(t *testing.T) {
	tracer, exp := newRecorder(t)
	_, span := StartRequestSpan(t.Context(), tracer, map[string]string{":method": "POST", ":path": "/v1/chat/completions"})
	AnnotateRequest(span, RequestAttrs{Consumer: "team-a"})
	AnnotateRequest(span, RequestAttrs{Operation: "chat", Model: "gpt-4o", Stream: true})
	AnnotateRequest(span, RequestAttrs{Provider: "openai-eu", ProviderKind: "openai"})
	AddDecision(span, "quota", "admitted", "within_limits")
	AnnotateResponse(span, ResponseAttrs{Model: "gpt-4o-2024-08-06", ID: "chatcmpl-1",
		FinishReasons: []string{"stop"}, UsageKnown: true, InputTokens: 12, OutputTokens: 34})
	EndRequestSpan(span, 502, "upstream_5xx")

	got := exp.GetSpans()[0]
	if got.Name != "chat gpt-4o" {
		t.Errorf("name = %q, want \"chat gpt-4o\"", got.Name)
	}
	attrs := attrMap(got)
	want := map[string]string{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
		"gen_ai.provider.name": "openai", "gateway.provider": "openai-eu", "gateway.consumer": "team-a",
		"gateway.stream": "true", "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-1",
		"gen_ai.response.finish_reasons": `["stop"]`, "gen_ai.usage.input_tokens": "12",
		"gen_ai.usage.output_tokens": "34", "http.response.status_code": "502", "error.type": "upstream_5xx",
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if got.Status.Code != codes.Error {
		t.Errorf("status = %v, want Error", got.Status)
	}
	if len(got.Events) != 1 || got.Events[0].Name != "gateway.decision" {
		t.Errorf("events = %v, want one gateway.decision", got.Events)
	}
}

func TestNoopTracingIsFree(t *testing.T) {
	tracer := noop.NewTracerProvider().Tracer("x")
	headers := map[string]string{":method": "POST", ":path": "/v1/chat/completions", "traceparent": incomingTP}
	ctx := t.Context()
	allocs := testing.AllocsPerRun(100, func() {
		c, span := StartRequestSpan(ctx, tracer, headers)
		AnnotateRequest(span, RequestAttrs{Operation: "chat", Model: "gpt-4o", Consumer: "team-a"})
		AddDecision(span, "quota", "admitted", "ok")
		AnnotateResponse(span, ResponseAttrs{Model: "m", UsageKnown: true})
		if InjectHeaders(c) != nil {
			t.Fatal("noop tracing must leave traceparent to Envoy")
		}
		EndRequestSpan(span, 200, "")
	})
	if allocs != 0 {
		t.Errorf("noop request span allocates %v times, want 0", allocs)
	}
}

func attrMap(s tracetest.SpanStub) map[string]string {
	m := make(map[string]string, len(s.Attributes))
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`)

// FuzzStartRequestSpan feeds client-controlled headers (traceparent,
// tracestate, path) through span start and injection.
func FuzzStartRequestSpan(f *testing.F) {
	f.Add(incomingTP, "vendor=x", "/v1/chat/completions")
	f.Add("00-00000000000000000000000000000000-0000000000000000-01", "", "/v1/chat/completions?x=1")
	f.Add("ff-"+incomingTrace+"-"+incomingParent+"-01", "a=1,b=2,,=", "")
	f.Add("00-"+incomingTrace+"-"+incomingParent+"-01-extra", strings.Repeat("k=v,", 40), "?")
	// No exporter: spans still record, but nothing piles up across runs.
	tracer := sdktrace.NewTracerProvider().Tracer("fuzz")
	f.Fuzz(func(t *testing.T, tp, ts, path string) {
		ctx, span := StartRequestSpan(context.Background(), tracer, map[string]string{
			"traceparent": tp, "tracestate": ts, ":path": path, ":method": "POST",
		})
		defer span.End()
		out := InjectHeaders(ctx)
		if len(out) == 0 || out[0][0] != "traceparent" || !traceparentRE.MatchString(out[0][1]) {
			t.Fatalf("injected %q from traceparent %q", out, tp)
		}
		if got, want := out[0][1][3:35], span.SpanContext().TraceID().String(); got != want {
			t.Fatalf("injected trace id %s, span has %s", got, want)
		}
	})
}

func BenchmarkRequestSpan(b *testing.B) {
	headers := map[string]string{":method": "POST", ":path": "/v1/chat/completions", "traceparent": incomingTP}
	tracers := []struct {
		name   string
		tracer trace.Tracer
	}{
		{"noop", noop.NewTracerProvider().Tracer("x")},
		{"sdk", sdktrace.NewTracerProvider().Tracer("x")},
	}
	for _, tc := range tracers {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, span := StartRequestSpan(context.Background(), tc.tracer, headers)
				AnnotateRequest(span, RequestAttrs{Operation: "chat", Model: "gpt-4o", Consumer: "team-a", Provider: "openai"})
				_ = InjectHeaders(ctx)
				EndRequestSpan(span, 200, "")
			}
		})
	}
}

func TestTracing(t *testing.T) {
	if Tracing(nil) || Tracing(noop.NewTracerProvider().Tracer("")) {
		t.Error("a nil or no-op tracer reported as tracing")
	}
	if !Tracing(sdktrace.NewTracerProvider().Tracer("")) {
		t.Error("an SDK tracer reported as not tracing")
	}
}
