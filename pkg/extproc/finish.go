package extproc

import (
	"context"
	"log/slog"
	"time"

	"github.com/llm-gateway/gateway/pkg/router"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// finish runs once when the stream ends, however it ends (normal close, client
// reset, sidecar error): it feeds the provider's breaker, reconciles the token
// reservation with what was actually used, records metrics and the span, and
// writes the request's one log line. ctx is fresh: the stream's may be cancelled.
func (r *request) finish(ctx context.Context) {
	if r.finished {
		return
	}
	r.finished = true
	r.finishStream()
	if r.sel != nil {
		r.sel.Done(r.outcome())
	}
	input, output := r.actualTokens()
	if r.reservation != nil {
		if err := r.srv.opts.Quota.Reconcile(ctx, r.reservation, input+output); err != nil {
			// The quota package logged the loss with the reservation's details.
			r.log.Debug("usage not written", "error", err.Error())
		}
	}
	status := r.clientStatus()
	dur := r.srv.opts.Now().Sub(r.start)
	r.recordMetrics(status, dur, input, output)
	r.endSpan(status, input, output)
	r.logLine(ctx, status, dur, input, output)
}

// release frees a reservation when the request is answered before going upstream.
func (r *request) release(ctx context.Context) {
	if r.reservation == nil {
		return
	}
	if err := r.srv.opts.Quota.Reconcile(ctx, r.reservation, 0); err != nil {
		r.log.Warn("reservation release deferred", "error", err.Error())
	}
	r.reservation = nil
}

// actualTokens is what the request cost: the provider's usage when it reported
// one; else the prompt estimate plus the output counted from the text that
// flowed (a client that left mid-stream still pays for what was generated).
// Requests the provider failed or never answered cost nothing.
func (r *request) actualTokens() (input, output int64) {
	switch {
	case r.usageKnown:
		return r.usage.PromptTokens, r.usage.CompletionTokens
	case r.sel == nil || r.status >= 400:
		return 0, 0
	case r.status == 0 && r.outputCounted == 0:
		// Sent upstream, then the client left before any answer: the provider
		// may have read the prompt, so charge it.
		return r.promptEstimate, 0
	default:
		return r.promptEstimate, r.outputCounted
	}
}

func (r *request) clientStatus() int {
	if r.answered != 0 {
		return r.answered
	}
	return r.status
}

// outcome tells the provider's breaker how the request ended. A client that went
// away before the provider answered says nothing about the provider.
func (r *request) outcome() router.Outcome {
	if r.status == 0 {
		return router.OutcomeCanceled
	}
	return router.OutcomeFromStatus(r.status)
}

func (r *request) endpointName() string {
	switch r.endpoint {
	case endpointChat:
		return "chat_completions"
	case endpointModels:
		return "models"
	}
	return "unknown"
}

func (r *request) recordMetrics(status int, dur time.Duration, input, output int64) {
	m := r.metrics()
	rec := telemetry.RequestRecord{Endpoint: r.endpointName(), Status: status, Duration: dur}
	if r.consumer != nil {
		rec.Consumer = r.consumer.ID
	}
	if r.chat != nil {
		rec.Model = r.chat.Model
	}
	if r.provider != nil {
		rec.Provider = r.provider.Name
	}
	m.ObserveRequest(rec)
	if r.provider == nil || r.upstreamStart.IsZero() {
		return
	}
	m.AddTokens(rec.Consumer, rec.Model, input, output)
	up := telemetry.UpstreamRecord{Operation: "chat", Provider: r.provider.Name, ProviderKind: r.provider.Kind,
		Model: r.upModel, Status: r.status, Duration: r.srv.opts.Now().Sub(r.upstreamStart),
		UsageKnown: r.usageKnown, InputTokens: input, OutputTokens: output}
	if r.respStream {
		up.TimeToFirstChunk = r.firstChunk
	}
	m.ObserveUpstream(up)
}

func (r *request) endSpan(status int, input, output int64) {
	if r.span == nil {
		return
	}
	telemetry.AnnotateResponse(r.span, telemetry.ResponseAttrs{Model: r.chatModel(), UsageKnown: r.usageKnown, InputTokens: input, OutputTokens: output})
	if r.errReason != "" {
		telemetry.AddDecision(r.span, "gateway", "rejected", r.errReason)
	}
	telemetry.EndRequestSpan(r.span, status, r.errReason)
}

func (r *request) chatModel() string {
	if r.chat == nil {
		return ""
	}
	return r.chat.Model
}

// logLine writes the one structured line per request. It never holds prompts,
// outputs or keys.
func (r *request) logLine(ctx context.Context, status int, dur time.Duration, input, output int64) {
	attrs := []slog.Attr{
		slog.String("method", r.method),
		slog.String("path", r.path),
		slog.Int("status", status),
		slog.Float64("duration_ms", dur.Seconds()*1000),
	}
	if r.consumer != nil {
		attrs = append(attrs, slog.String("consumer", r.consumer.ID))
	}
	if r.chat != nil {
		attrs = append(attrs, slog.String("model", r.chat.Model), slog.Bool("stream", r.chat.Stream))
	}
	if r.provider != nil {
		attrs = append(attrs, slog.String("provider", r.provider.Name), slog.String("provider_model", r.upModel))
	}
	if r.sel != nil && r.sel.Chaos != nil {
		attrs = append(attrs, slog.String("chaos", r.sel.Chaos.Label))
	}
	if r.reservation != nil || input+output > 0 {
		attrs = append(attrs, slog.Int64("input_tokens", input), slog.Int64("output_tokens", output),
			slog.Bool("usage_from_provider", r.usageKnown))
	}
	if r.errReason != "" {
		attrs = append(attrs, slog.String("reason", r.errReason))
	}
	if r.canceled {
		attrs = append(attrs, slog.Bool("client_canceled", true))
	}
	// Straight to the handler: a Record without a caller's PC skips the
	// stack walk slog.Logger makes for every line (the line has no source).
	if h := r.log.Handler(); h.Enabled(ctx, slog.LevelInfo) {
		rec := slog.NewRecord(r.srv.opts.Now(), slog.LevelInfo, "request", 0)
		rec.AddAttrs(attrs...)
		_ = h.Handle(ctx, rec)
	}
}
