package extproc

import (
	"encoding/json"
	"net/http"
	"strconv"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
)

// upstreamError handles a response status >= 400 from the provider or from Envoy
// itself (timeouts, no healthy upstream, fault aborts). Client errors the provider
// explains (400, 404, 422) keep the provider's OpenAI-shaped message, re-encoded so
// nothing but the four OpenAI fields survives; every other status gets the
// gateway's own message, decided from the status alone, right away.
func (r *request) upstreamError(h *extprocv3.HttpHeaders, m *headerMutation) *extprocv3.ProcessingResponse {
	r.respError = true
	r.phase = phaseResponseBody
	if keepsProviderMessage(r.status) && !h.GetEndOfStream() {
		return responseHeadersResponse(common(m, nil, false, false), nil)
	}
	e := gatewayErrorFor(r.status)
	m.setHeader("content-type", "application/json")
	m.removeHeader("content-length")
	if e.Status != r.status {
		m.setHeader(":status", strconv.Itoa(e.Status))
	}
	r.phase = phaseDone
	c := common(m, e.Body(), true, false)
	c.Status = extprocv3.CommonResponse_CONTINUE_AND_REPLACE
	return responseHeadersResponse(c, nil)
}

func keepsProviderMessage(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusUnprocessableEntity
}

// upstreamErrorBody sanitises a provider's client-error body.
func (r *request) upstreamErrorBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	e := sanitizeProviderError(r.status, b.GetBody())
	body := e.Body()
	h := &headerMutation{}
	h.setHeader("content-type", "application/json")
	h.setHeader("content-length", strconv.Itoa(len(body)))
	r.phase = phaseDone
	return responseBodyResponse(common(h, body, true, false))
}

// sanitizeProviderError keeps message, type, param and code of an OpenAI-shaped
// provider error and drops everything else.
func sanitizeProviderError(status int, body []byte) *openai.Error {
	var env struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Param   any    `json:"param"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Message == "" {
		return gatewayErrorFor(status)
	}
	e := &openai.Error{Status: status, Message: env.Error.Message, Type: env.Error.Type}
	if e.Type == "" {
		e.Type = openai.TypeInvalidRequest
	}
	if s, ok := env.Error.Param.(string); ok {
		e.Param = s
	}
	if s, ok := env.Error.Code.(string); ok {
		e.Code = s
	}
	return e
}

// gatewayErrorFor maps an upstream status to the error the client sees.
func gatewayErrorFor(status int) *openai.Error {
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return &openai.Error{Status: status, Type: openai.TypeInvalidRequest, Code: "request_too_large",
			Message: "The request body is too large for this gateway."}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// The provider rejected the gateway's credential, not the client's.
		return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Code: "provider_auth_error",
			Message: "The gateway could not authenticate with the model provider. Contact your gateway operator."}
	case status == http.StatusTooManyRequests:
		return &openai.Error{Status: status, Type: openai.TypeRateLimitRequests, Code: "rate_limit_exceeded",
			Message: "The model provider is rate limiting requests. Please retry shortly."}
	case status == http.StatusGatewayTimeout:
		return &openai.Error{Status: status, Type: openai.TypeTimeout, Code: "upstream_timeout",
			Message: "The model provider did not answer in time. Please retry."}
	case status == http.StatusServiceUnavailable:
		return &openai.Error{Status: status, Type: openai.TypeServiceUnavailable, Code: "provider_unavailable",
			Message: "The model provider is currently unavailable. Please retry shortly."}
	case status >= 500:
		return &openai.Error{Status: status, Type: openai.TypeServer, Code: "provider_error",
			Message: "The model provider failed to process the request. Please retry."}
	default:
		return &openai.Error{Status: status, Type: openai.TypeInvalidRequest, Code: "provider_rejected",
			Message: "The model provider rejected the request."}
	}
}
