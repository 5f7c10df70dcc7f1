package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Every helper below returns at once for a span that is not recording, so a
// disabled or unsampled trace never builds attribute slices.

// RequestAttrs describe what the gateway learnt about a request. Empty fields
// are skipped, so the caller may report each as soon as it is known.
type RequestAttrs struct {
	// Operation is gen_ai.operation.name ("chat").
	Operation string
	// Model is the client-facing model; the span is renamed "{op} {model}".
	Model string
	// ProviderKind is gen_ai.provider.name ("openai", "vllm").
	ProviderKind string
	// Provider is the configured provider name chosen by routing.
	Provider string
	// Consumer is the configured consumer id, never the key.
	Consumer string
	// Stream says the client asked for a streamed response.
	Stream bool
}

// AnnotateRequest adds request attributes and renames the span once both the
// operation and the model are known.
func AnnotateRequest(span trace.Span, a RequestAttrs) {
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = appendNonEmpty(attrs, AttrOperationName, a.Operation)
	attrs = appendNonEmpty(attrs, AttrRequestModel, a.Model)
	attrs = appendNonEmpty(attrs, AttrProviderName, a.ProviderKind)
	attrs = appendNonEmpty(attrs, AttrProvider, a.Provider)
	attrs = appendNonEmpty(attrs, AttrConsumer, a.Consumer)
	if a.Stream {
		attrs = append(attrs, AttrStream.Bool(true))
	}
	span.SetAttributes(attrs...)
	if a.Model != "" {
		op := a.Operation
		if op == "" {
			op = "chat"
		}
		span.SetName(op + " " + a.Model)
	}
}

// ResponseAttrs describe the provider's answer (metadata only, never content).
type ResponseAttrs struct {
	// Model is the model the provider says answered (gen_ai.response.model).
	Model string
	// ID is the provider's response id (gen_ai.response.id).
	ID string
	// FinishReasons are the choices' finish reasons ("stop", "length", ...).
	FinishReasons []string
	// UsageKnown says the token counts come from the provider.
	UsageKnown                bool
	InputTokens, OutputTokens int64
}

// AnnotateResponse adds the provider's response metadata and token usage.
func AnnotateResponse(span trace.Span, a ResponseAttrs) {
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = appendNonEmpty(attrs, AttrResponseModel, a.Model)
	attrs = appendNonEmpty(attrs, AttrResponseID, a.ID)
	if len(a.FinishReasons) > 0 {
		attrs = append(attrs, AttrFinishReasons.StringSlice(a.FinishReasons))
	}
	if a.UsageKnown {
		attrs = append(attrs, AttrInputTokens.Int64(a.InputTokens), AttrOutputTokens.Int64(a.OutputTokens))
	}
	span.SetAttributes(attrs...)
}

// AddDecision records one policy decision as a span event, e.g.
// ("quota", "rejected", "tokens_per_day") or ("route", "openai-eu", "weighted").
// reason must be a fixed code, never request content.
func AddDecision(span trace.Span, stage, outcome, reason string) {
	if !span.IsRecording() {
		return
	}
	span.AddEvent("gateway.decision", trace.WithAttributes(
		AttrDecisionStage.String(stage),
		AttrDecisionResult.String(outcome),
		AttrDecisionReason.String(reason),
	))
}

// EndRequestSpan records the status the client got and ends the span.
// errType, when not empty, is the error.type of a request that did not
// succeed ("quota_exceeded", "upstream_5xx", "client_canceled", ...) and
// marks the span as failed.
func EndRequestSpan(span trace.Span, status int, errType string) {
	if span.IsRecording() {
		if status > 0 {
			span.SetAttributes(AttrHTTPStatus.Int(status))
		}
		if errType != "" {
			span.SetAttributes(AttrErrorType.String(errType))
			span.SetStatus(codes.Error, errType)
		}
	}
	span.End()
}

func appendNonEmpty(attrs []attribute.KeyValue, k attribute.Key, v string) []attribute.KeyValue {
	if v == "" {
		return attrs
	}
	return append(attrs, k.String(v))
}
