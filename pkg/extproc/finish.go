package extproc

import (
	"context"
	"log/slog"

	"github.com/llm-gateway/gateway/pkg/router"
)

// finish runs once when the stream ends, however it ends: it settles accounting
// and writes the request's one log line.
func (r *request) finish(ctx context.Context) {
	if r.finished {
		return
	}
	r.finished = true
	if r.sel != nil {
		r.sel.Done(r.outcome())
	}
	status := r.status
	if r.answered != 0 {
		status = r.answered
	}
	attrs := []slog.Attr{
		slog.String("method", r.method),
		slog.String("path", r.path),
		slog.Int("status", status),
		slog.Duration("duration", r.srv.opts.Now().Sub(r.start)),
	}
	if r.chat != nil {
		attrs = append(attrs, slog.String("model", r.chat.Model), slog.Bool("stream", r.chat.Stream))
	}
	if r.provider != nil {
		attrs = append(attrs, slog.String("provider", r.provider.Name))
	}
	if r.errReason != "" {
		attrs = append(attrs, slog.String("reason", r.errReason))
	}
	if r.canceled {
		attrs = append(attrs, slog.Bool("client_canceled", true))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// outcome tells the provider's breaker how the request ended. A client that went
// away before the provider answered says nothing about the provider.
func (r *request) outcome() router.Outcome {
	if r.status == 0 {
		return router.OutcomeCanceled
	}
	return router.OutcomeFromStatus(r.status)
}
