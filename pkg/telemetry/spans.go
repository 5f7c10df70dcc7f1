package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The request span follows the GenAI inference span conventions: it is named
// "{gen_ai.operation.name} {gen_ai.request.model}" and has kind CLIENT. The
// sidecar does not serve the HTTP request (Envoy does, and its own tracing
// would own that SERVER span); what the span describes is the gateway's call
// of a remote model on the client's behalf, and the traceparent forwarded to
// the provider makes the provider's SERVER span its child. Prompts, outputs
// and credentials are never attributes.

// Attribute keys used on request spans.
const (
	AttrOperationName  attribute.Key = "gen_ai.operation.name"
	AttrRequestModel   attribute.Key = "gen_ai.request.model"
	AttrResponseModel  attribute.Key = "gen_ai.response.model"
	AttrResponseID     attribute.Key = "gen_ai.response.id"
	AttrFinishReasons  attribute.Key = "gen_ai.response.finish_reasons"
	AttrProviderName   attribute.Key = "gen_ai.provider.name"
	AttrInputTokens    attribute.Key = "gen_ai.usage.input_tokens"
	AttrOutputTokens   attribute.Key = "gen_ai.usage.output_tokens"
	AttrErrorType      attribute.Key = "error.type"
	AttrHTTPMethod     attribute.Key = "http.request.method"
	AttrHTTPStatus     attribute.Key = "http.response.status_code"
	AttrURLPath        attribute.Key = "url.path"
	AttrRequestID      attribute.Key = "gateway.request_id"
	AttrConsumer       attribute.Key = "gateway.consumer"
	AttrProvider       attribute.Key = "gateway.provider"
	AttrStream         attribute.Key = "gateway.stream"
	AttrDecisionStage  attribute.Key = "gateway.decision.stage"
	AttrDecisionResult attribute.Key = "gateway.decision.outcome"
	AttrDecisionReason attribute.Key = "gateway.decision.reason"
)

// Tracing reports whether tracer records spans (it is not the no-op tracer
// tracing-off configurations get), for callers that would otherwise prepare
// what a span reads for nothing.
func Tracing(tracer trace.Tracer) bool {
	_, off := tracer.(noop.Tracer)
	return tracer != nil && !off
}

// StartRequestSpan starts the request's span as a child of the traceparent
// (and tracestate) Envoy passed in the request headers (lower-case names, as
// Envoy sends them). With a no-op tracer it returns ctx untouched and
// allocates nothing; InjectHeaders then adds nothing, so Envoy forwards the
// client's own traceparent unchanged.
func StartRequestSpan(ctx context.Context, tracer trace.Tracer, headers map[string]string) (context.Context, trace.Span) {
	if !Tracing(tracer) {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(headers))
	method := headers[":method"]
	path, _, _ := strings.Cut(headers[":path"], "?") // the query may hold secrets
	op := operationFor(path)
	name := op
	if name == "" {
		name = method
	}
	attrs := []attribute.KeyValue{AttrHTTPMethod.String(method), AttrURLPath.String(path)}
	if op != "" {
		attrs = append(attrs, AttrOperationName.String(op))
	}
	if id := headers["x-request-id"]; id != "" {
		attrs = append(attrs, AttrRequestID.String(id))
	}
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// operationFor maps an OpenAI path to gen_ai.operation.name ("" if none).
func operationFor(path string) string {
	switch strings.TrimSuffix(path, "/") {
	case "/v1/chat/completions":
		return "chat"
	case "/v1/completions":
		return "text_completion"
	case "/v1/embeddings":
		return "embeddings"
	}
	return ""
}

// InjectHeaders returns the traceparent (and tracestate, when there is one)
// to forward to the provider so its spans join the request's trace. It
// returns nil when ctx carries no valid span.
func InjectHeaders(ctx context.Context) [][2]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := make(pairCarrier, 0, 2)
	propagation.TraceContext{}.Inject(ctx, &c)
	if len(c) == 2 && c[0][0] != "traceparent" {
		// A stable order keeps header mutations diffable in tests and logs.
		c[0], c[1] = c[1], c[0]
	}
	return c
}

// pairCarrier collects injected headers in the order the propagator sets them.
type pairCarrier [][2]string

func (c *pairCarrier) Get(key string) string {
	for _, kv := range *c {
		if kv[0] == key {
			return kv[1]
		}
	}
	return ""
}

func (c *pairCarrier) Set(key, value string) { *c = append(*c, [2]string{key, value}) }

func (c *pairCarrier) Keys() []string {
	keys := make([]string, len(*c))
	for i, kv := range *c {
		keys[i] = kv[0]
	}
	return keys
}
