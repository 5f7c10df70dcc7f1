package extproc

import (
	"context"
	"strconv"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
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
	model := r.snap.Models[chat.Model]
	dep := model.Deployments[0]
	r.provider = r.snap.Providers[dep.Provider]
	r.upModel = dep.Model

	newBody, err := openai.RewriteChatRequest(body, chat, r.upModel)
	if err != nil {
		return r.reject(openai.InvalidRequest("", "We could not rewrite the JSON body of your request."), "rewrite_failed", nil)
	}
	h := &headerMutation{}
	r.setProviderHeaders(h)
	h.setHeader("content-length", strconv.Itoa(len(newBody)))
	r.phase = phaseUpstream
	return requestBodyResponse(common(h, newBody, true, true))
}

// setProviderHeaders sets routing, credential and Envoy policy headers.
func (r *request) setProviderHeaders(h *headerMutation) {
	p := r.provider
	h.setHeader(r.snap.Config.Server.RoutingHeader, p.Cluster)
	if p.APIKey != "" {
		h.setHeader("authorization", "Bearer "+p.APIKey)
	}
	for k, v := range p.Headers {
		h.setHeader(strings.ToLower(k), v)
	}
	h.setHeader("x-envoy-upstream-rq-timeout-ms", strconv.FormatInt(p.Timeout.D().Milliseconds(), 10))
	h.setHeader("x-envoy-max-retries", strconv.Itoa(p.MaxRetries))
}
