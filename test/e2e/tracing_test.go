package e2e

import (
	"fmt"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestTraceContinuesAndCarriesNoContent: the sidecar's span continues the
// client's traceparent, the provider receives the same trace, and no prompt,
// output or key appears anywhere in the span.
func TestTraceContinuesAndCarriesNoContent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	s := startStack(t, stackOptions{tracer: tp})
	cfg := s.mock.Config()
	cfg.ReplyText = "OUTPUT-MARKER-5511"
	s.mock.SetConfig(cfg)
	traceID := "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, body := s.postHeaders(demoKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"PROMPT-MARKER-4410"}]}`,
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s.waitLog(`"consumer":"demo"`)
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	sp := spans[0]
	if sp.SpanContext.TraceID().String() != traceID || sp.Name != "chat gpt-4o-mini" {
		t.Fatalf("span %s in trace %s", sp.Name, sp.SpanContext.TraceID())
	}
	reqs, _ := s.mock.Requests()
	if tp := reqs[0].Header.Get("traceparent"); !strings.Contains(tp, traceID) {
		t.Fatalf("provider got traceparent %q", tp)
	}
	dump := fmt.Sprintf("%+v %+v %+v", sp.Attributes, sp.Events, sp.Status)
	for _, secret := range []string{"PROMPT-MARKER-4410", "OUTPUT-MARKER-5511", demoKey, providerKey} {
		if strings.Contains(dump, secret) {
			t.Errorf("%q in span: %s", secret, dump)
		}
	}
}
