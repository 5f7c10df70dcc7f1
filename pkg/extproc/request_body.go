package extproc

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/router"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// onRequestBody validates the chat request, picks the provider and rewrites the
// request for it. Envoy holds the request headers until this answer (BUFFERED), so
// the routing header set here is what the router sees after clear_route_cache.
func (r *request) onRequestBody(ctx context.Context, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if r.phase != phaseRequestBody {
		return r.reject(openai.ServerError("The gateway received an unexpected request body."), "unexpected_body", nil)
	}
	if !b.GetEndOfStream() {
		// Only BUFFERED request bodies let the routing header follow the body; a
		// STREAMED chunk here means envoy.yaml is wrong. Fail closed.
		r.log.Error("request body is not buffered: set request_body_mode BUFFERED in envoy.yaml")
		return r.reject(openai.ServerError("The gateway is misconfigured."), "request_body_not_buffered", nil)
	}
	body := b.GetBody()
	chat, perr := openai.ParseChatRequest(body)
	if perr != nil {
		return r.reject(perr, "invalid_request", nil)
	}
	r.chat = chat
	if !r.consumer.MayUse(chat.Model) || r.snap.Models[chat.Model] == nil {
		return r.reject(openai.ModelNotFound(chat.Model), "model_not_found", nil)
	}
	if v, bad := r.snap.Guardrail(r.consumer).CheckPrompt(chat.Texts()); bad {
		r.metrics().GuardrailActed(telemetry.StagePrompt, telemetry.ActionBlock)
		r.log.Info("prompt rejected by guardrail", "rule", v.Rule)
		return r.reject(&openai.Error{Status: 400, Type: openai.TypeInvalidRequest, Param: "messages", Code: "content_policy_violation",
			Message: "Your request was rejected because it contains content that is not allowed by this gateway's policy."}, "content_policy_violation", nil)
	}
	if resp := r.admit(ctx); resp != nil {
		return resp
	}
	if resp := r.selectDeployment(); resp != nil {
		r.release(ctx)
		return resp
	}
	telemetry.AnnotateRequest(r.span, telemetry.RequestAttrs{Operation: "chat", Model: chat.Model,
		ProviderKind: r.provider.Kind, Provider: r.provider.Name, Consumer: r.consumer.ID, Stream: chat.Stream})

	newBody, err := openai.RewriteChatRequest(body, chat, r.upModel)
	if err != nil {
		return r.reject(openai.InvalidRequest("", "We could not rewrite the JSON body of your request."), "rewrite_failed", nil)
	}
	h := &headerMutation{}
	r.setProviderHeaders(h)
	// A body the rewrite left alone (same model name upstream, nothing to
	// add) is not sent back: Envoy forwards the one it holds.
	replace := !bytes.Equal(newBody, body)
	if replace {
		h.setHeader("content-length", strconv.Itoa(len(newBody)))
	}
	for _, kv := range telemetry.InjectHeaders(r.spanCtx) {
		h.setHeader(kv[0], kv[1])
	}
	if c := r.sel.Chaos; c != nil {
		if c.AbortPercent > 0 {
			r.metrics().ChaosFaultRequested(r.provider.Name, telemetry.FaultAbort)
		}
		if c.DelayPercent > 0 {
			r.metrics().ChaosFaultRequested(r.provider.Name, telemetry.FaultDelay)
		}
	}
	r.upstreamStart = r.srv.opts.Now()
	r.phase = phaseUpstream
	return requestBodyResponse(common(h, newBody, replace, true))
}

// selectDeployment asks the router for a deployment. When none may be called
// (breakers open, bulkheads full) the client gets a fast 503 and nothing goes
// upstream.
func (r *request) selectDeployment() *extprocv3.ProcessingResponse {
	pin := r.consumer.Pin
	if r.pinHint != "" {
		pin = r.pinHint
	}
	sel, err := r.snap.Router.Select(router.Request{Model: r.chat.Model, Consumer: r.consumer.ID, Pin: pin})
	var unavailable *router.UnavailableError
	switch {
	case err == nil:
	case errors.As(err, &unavailable):
		secs := int64(math.Ceil(unavailable.RetryAfter.Seconds()))
		retry := [][2]string{{"retry-after", strconv.FormatInt(max(secs, 1), 10)}}
		if errors.Is(err, router.ErrSaturated) {
			return r.reject(openai.ServiceUnavailable("gateway_saturated", "The gateway is at capacity. Please retry shortly."), "saturated", retry)
		}
		return r.reject(openai.ServiceUnavailable("no_healthy_provider", "No provider for this model is available right now. Please retry shortly."), "no_healthy_provider", retry)
	case errors.Is(err, router.ErrPinNotFound):
		return r.reject(&openai.Error{Status: 400, Type: openai.TypeInvalidRequest, Param: PinHeader, Code: "invalid_pin",
			Message: "The pinned deployment does not serve this model."}, "invalid_pin", nil)
	default:
		return r.reject(openai.ModelNotFound(r.chat.Model), "model_not_found", nil)
	}
	r.sel = sel
	r.provider = r.snap.Providers[sel.Provider.Name]
	r.upModel = sel.UpstreamModel
	return nil
}

// setProviderHeaders sets routing, Envoy policy (timeout, retries, chaos) and the
// provider's credential and extra headers.
func (r *request) setProviderHeaders(h *headerMutation) {
	for _, kv := range r.sel.EnvoyHeaders() {
		h.setHeader(kv[0], kv[1])
	}
	p := r.provider
	if p.APIKey != "" {
		h.setHeader("authorization", "Bearer "+p.APIKey)
	}
	for k, v := range p.Headers {
		h.setHeader(strings.ToLower(k), v)
	}
}
