package extproc

import (
	"context"
	"strconv"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/tidwall/sjson"
)

// responseState is what the response phases keep between chunks.
type responseState struct {
	contentType string
}

// providerHeaders are upstream response headers that identify or describe the
// provider; clients get a clean OpenAI-compatible response without them.
var providerHeaderPrefixes = []string{"openai-", "x-ratelimit-", "anthropic-", "cf-", "x-envoy-"}

var providerHeaders = map[string]bool{
	"server": true, "via": true, "x-powered-by": true, "set-cookie": true, "alt-svc": true,
	"x-request-id": true, "strict-transport-security": true, "report-to": true, "nel": true,
}

// onResponseHeaders records the outcome, turns provider and Envoy errors into
// OpenAI errors and switches SSE answers to STREAMED.
func (r *request) onResponseHeaders(ctx context.Context, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	hdr := headerMap(h.GetHeaders())
	r.status, _ = strconv.Atoi(hdr[":status"])
	r.resp.contentType = hdr["content-type"]
	m := r.cleanResponseHeaders(hdr)
	if r.id != "" {
		m.setHeader("x-request-id", r.id)
	}
	if r.status >= 400 {
		return r.upstreamError(h, hdr, m)
	}
	if r.chat != nil && r.chat.Stream && strings.HasPrefix(r.resp.contentType, "text/event-stream") {
		r.respStream = true
		r.phase = phaseResponseBody
		return responseHeadersResponse(common(m, nil, false, false), streamedResponseBody())
	}
	r.phase = phaseResponseBody
	return responseHeadersResponse(common(m, nil, false, false), nil)
}

func (r *request) cleanResponseHeaders(hdr map[string]string) *headerMutation {
	m := &headerMutation{}
	for name := range hdr {
		if providerHeaders[name] {
			m.removeHeader(name)
			continue
		}
		for _, p := range providerHeaderPrefixes {
			if strings.HasPrefix(name, p) {
				m.removeHeader(name)
				break
			}
		}
	}
	return m
}

// onResponseBody rewrites the provider's answer for the client.
func (r *request) onResponseBody(ctx context.Context, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if r.respError {
		return r.upstreamErrorBody(b)
	}
	if r.respStream || r.chat == nil {
		if b.GetEndOfStream() {
			r.phase = phaseDone
		}
		return responseBodyResponse(common(nil, nil, false, false))
	}
	body := b.GetBody()
	out, err := sjson.SetBytes(body, "model", r.chat.Model)
	if err != nil {
		out = body
	}
	h := &headerMutation{}
	h.setHeader("content-length", strconv.Itoa(len(out)))
	r.phase = phaseDone
	return responseBodyResponse(common(h, out, true, false))
}
