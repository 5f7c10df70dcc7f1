package extproc

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/respfilter"
	"github.com/llm-gateway/gateway/pkg/telemetry"
	"github.com/llm-gateway/gateway/pkg/tokens"
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
	m := r.readResponseHeaders(h.GetHeaders().GetHeaders())
	if r.id != "" {
		m.setHeader("x-request-id", r.id)
	}
	for _, kv := range r.rateHeaders {
		m.setHeader(kv[0], kv[1])
	}
	if r.status >= 400 {
		return r.upstreamError(h, m)
	}
	if r.chat != nil && r.chat.Stream && strings.HasPrefix(r.resp.contentType, "text/event-stream") {
		r.respStream = true
		r.filter = respfilter.NewStream(r.filterOptions())
		r.phase = phaseResponseBody
		return responseHeadersResponse(common(m, nil, false, false), streamedResponseBody())
	}
	r.phase = phaseResponseBody
	return responseHeadersResponse(common(m, nil, false, false), nil)
}

// readResponseHeaders takes the status and content type from the provider's
// response headers, in one pass over Envoy's list, and returns the mutation
// that removes the provider's own headers.
func (r *request) readResponseHeaders(headers []*corev3.HeaderValue) *headerMutation {
	m := &headerMutation{}
	for _, hv := range headers {
		switch name := hv.GetKey(); name {
		case ":status":
			r.status, _ = strconv.Atoi(headerValue(hv))
		case "content-type":
			r.resp.contentType = headerValue(hv)
		default:
			if r.providerOnly(name) && !slices.Contains(m.remove, name) {
				m.removeHeader(name)
			}
		}
	}
	return m
}

// providerOnly reports whether a response header is the provider's own
// business (its identity, rate limits, cookies) rather than the client's;
// rate-limit headers the gateway sets itself are overwritten, not removed.
func (r *request) providerOnly(name string) bool {
	for _, kv := range r.rateHeaders {
		if kv[0] == name {
			return false
		}
	}
	if providerHeaders[name] {
		return true
	}
	for _, p := range providerHeaderPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// onResponseBody rewrites the provider's answer for the client: model name,
// output guardrails, usage extraction (and removal of the usage chunk the client
// did not ask for).
func (r *request) onResponseBody(ctx context.Context, b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if r.respError {
		return r.upstreamErrorBody(b)
	}
	if r.chat == nil {
		return responseBodyResponse(common(nil, nil, false, false))
	}
	if r.respStream {
		return r.onStreamChunk(b)
	}
	r.phase = phaseDone
	res, err := respfilter.FilterJSON(b.GetBody(), r.filterOptions())
	if err != nil {
		r.log.Warn("provider response is not a chat completion; passed through", "error", err.Error())
		return responseBodyResponse(common(nil, nil, false, false))
	}
	r.recordUsage(res.Usage, res.ProviderUsage, res.Usage.CompletionTokens)
	r.recordGuardrail(res.Outcome)
	if !res.Changed {
		return responseBodyResponse(common(nil, nil, false, false))
	}
	h := &headerMutation{}
	h.setHeader("content-length", strconv.Itoa(len(res.Body)))
	return responseBodyResponse(common(h, res.Body, true, false))
}

// onStreamChunk answers one STREAMED chunk with the bytes to forward in its
// place; an empty replacement holds text back until a later chunk.
func (r *request) onStreamChunk(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if r.firstChunk == 0 && !r.upstreamStart.IsZero() {
		r.firstChunk = r.srv.opts.Now().Sub(r.upstreamStart)
	}
	out, err := r.filter.Process(b.GetBody(), b.GetEndOfStream())
	if b.GetEndOfStream() || err != nil {
		r.finishStream()
	}
	if err != nil {
		// The response has started: Envoy turns this into a stream reset.
		r.log.Warn("provider stream could not be processed; resetting", "error", err.Error())
		return r.reject(openai.ServerError("The provider's stream could not be processed."), "stream_error", nil)
	}
	if bytes.Equal(out, b.GetBody()) {
		return r.chunkAnswer.pass() // Envoy forwards the chunk it holds
	}
	return r.chunkAnswer.with(out)
}

// chunkAnswer is the answer to a streamed chunk, built once per stream and
// reused for every chunk: Process sends (and so encodes) each answer before
// it reads the next chunk, and a stream has thousands of chunks. This relies
// on nothing keeping a sent message: a gRPC stats handler or interceptor that
// reads messages after Send (grpc-go allows them to) must not be installed
// on the ext_proc server without dropping this reuse.
type chunkAnswer struct {
	resp     extprocv3.ProcessingResponse
	oneof    extprocv3.ProcessingResponse_ResponseBody
	body     extprocv3.BodyResponse
	common   extprocv3.CommonResponse
	mutation extprocv3.BodyMutation
	replace  extprocv3.BodyMutation_Body
}

// with points the answer at out, the bytes that replace the chunk.
func (a *chunkAnswer) with(out []byte) *extprocv3.ProcessingResponse {
	a.link()
	a.common.BodyMutation = &a.mutation
	a.replace.Body = out
	return &a.resp
}

// pass is the answer that leaves the chunk as it is.
func (a *chunkAnswer) pass() *extprocv3.ProcessingResponse {
	a.link()
	a.common.BodyMutation = nil
	return &a.resp
}

// link connects the messages once per stream.
func (a *chunkAnswer) link() {
	if a.resp.Response == nil {
		a.mutation.Mutation = &a.replace
		a.body.Response = &a.common
		a.oneof.ResponseBody = &a.body
		a.resp.Response = &a.oneof
	}
}

// finishStream takes the stream's usage once it ends (or breaks).
func (r *request) finishStream() {
	if r.filter == nil || r.phase == phaseDone {
		return
	}
	r.phase = phaseDone
	u, ok := r.filter.Usage()
	r.recordUsage(u, ok, r.filter.CountedOutputTokens())
	r.recordGuardrail(r.filter.Outcome())
}

func (r *request) filterOptions() respfilter.Options {
	return respfilter.Options{
		ClientModel:      r.chat.Model,
		Policy:           r.snap.Guardrail(r.consumer),
		ClientWantsUsage: r.chat.IncludeUsage,
		CountTokens:      tokens.CountText,
	}
}

func (r *request) recordUsage(u respfilter.Usage, known bool, counted int64) {
	r.usage, r.usageKnown, r.outputCounted = u, known, counted
}

func (r *request) recordGuardrail(o respfilter.Outcome) {
	m := r.metrics()
	for i := 0; i < o.Redactions; i++ {
		m.GuardrailActed(telemetry.StageOutput, telemetry.ActionRedact)
	}
	if o.ContentFiltered {
		m.GuardrailActed(telemetry.StageOutput, telemetry.ActionStop)
	}
	if o.Truncated {
		m.GuardrailActed(telemetry.StageOutput, telemetry.ActionTruncate)
	}
}
