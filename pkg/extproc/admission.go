package extproc

import (
	"context"
	"errors"
	"net/http"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/telemetry"
	"github.com/llm-gateway/gateway/pkg/tokens"
)

// Quota is the admission control the sidecar needs; *quota.Limiter implements it.
type Quota interface {
	AdmitAndReserve(ctx context.Context, s quota.Subject, tokens int64) (*quota.Reservation, quota.Decision, error)
	Reconcile(ctx context.Context, r *quota.Reservation, actualTokens int64) error
}

var _ Quota = (*quota.Limiter)(nil)

// admit estimates the request's cost (prompt + maximum output) and, in one
// atomic store call, counts the request against every requests-per-minute
// limit and reserves the cost against every token limit and the concurrency
// limit: all or nothing, one Redis round trip. It runs once the body is read
// (the cost depends on it) and before any provider is called.
func (r *request) admit(ctx context.Context) *extprocv3.ProcessingResponse {
	msgs := make([]tokens.Message, len(r.chat.Messages))
	for i, m := range r.chat.Messages {
		msgs[i] = tokens.Message{Role: m.Role, Name: m.Name, Content: m.Text, ExtraBytes: m.ExtraBytes}
	}
	// Tool definitions become prompt tokens too; a byte is a safe upper bound.
	r.promptEstimate = int64(tokens.EstimateChat(msgs) + r.chat.ToolsBytes)
	maxOut := r.chat.MaxOutputTokens
	if maxOut == 0 {
		maxOut = r.snap.Config.Quota.DefaultMaxOutputTokens
	}
	res, d, err := r.srv.opts.Quota.AdmitAndReserve(ctx, r.consumer.Subject(r.chat.Model), r.promptEstimate+maxOut*r.chat.N)
	if resp := r.quotaAnswer(ctx, d, err); resp != nil {
		return resp
	}
	r.reservation = res
	return nil
}

// quotaAnswer turns a decision into a 429/503, or keeps its rate-limit headers
// for the response when allowed.
func (r *request) quotaAnswer(ctx context.Context, d quota.Decision, err error) *extprocv3.ProcessingResponse {
	if err != nil && ctx.Err() != nil && !errors.Is(err, quota.ErrUnavailable) {
		// Envoy cancelled the stream (the client went away) before the check:
		// nothing to count or report; the answer reaches nobody.
		r.canceled = true
		return r.reject(openai.ServerError("The request was cancelled."), "client_canceled", nil)
	}
	if err != nil {
		r.metrics().QuotaRejected(r.consumer.ID, telemetry.RejectStoreUnavailable)
		if errors.Is(err, quota.ErrUnavailable) {
			return r.reject(openai.ServiceUnavailable("quota_unavailable", "The gateway cannot check your quota right now. Please retry shortly."),
				"quota_unavailable", [][2]string{{"retry-after", "1"}})
		}
		r.log.Error("quota check failed", "error", err.Error())
		return r.reject(openai.ServerError("The gateway failed to check your quota."), "quota_error", nil)
	}
	r.rateHeaders = d.Headers()
	if d.Allowed {
		return nil
	}
	r.metrics().QuotaRejected(r.consumer.ID, rejectReason(d))
	e := &openai.Error{Status: http.StatusTooManyRequests, Type: d.ErrorType(), Code: d.Code, Message: d.Message()}
	return r.reject(e, "quota_"+string(d.Kind)+"_"+string(d.Period), d.Headers())
}

func rejectReason(d quota.Decision) telemetry.RejectReason {
	switch {
	case d.Period == quota.PeriodConcurrent:
		return telemetry.RejectConcurrency
	case d.Kind == quota.KindRequests:
		return telemetry.RejectRequestsPerMinute
	case d.Period == quota.PeriodDay:
		return telemetry.RejectTokensPerDay
	case d.Period == quota.PeriodMonth:
		return telemetry.RejectTokensPerMonth
	default:
		return telemetry.RejectTokensPerMinute
	}
}
