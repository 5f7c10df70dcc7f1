package extproc

import (
	"context"
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/auth"
	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// PinHeader lets consumers granted allow_pin_header choose a deployment.
const PinHeader = "x-gateway-pin"

// onRequestHeaders authenticates, classifies the endpoint and strips every header
// a client could use to steer Envoy or impersonate the sidecar.
func (r *request) onRequestHeaders(ctx context.Context, h *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	hdr, strip := r.readRequestHeaders(h.GetHeaders().GetHeaders())
	r.id = hdr.id
	r.method = hdr.method
	r.path, _, _ = strings.Cut(hdr.path, "?")
	r.log = r.log.With("request_id", r.id)
	var traced map[string]string // what the span reads, when there is one
	if telemetry.Tracing(r.srv.opts.Tracer) {
		traced = hdr.traced()
	}
	r.spanCtx, r.span = telemetry.StartRequestSpan(ctx, r.srv.opts.Tracer, traced)

	key := auth.ExtractKey(hdr.authorization, hdr.apiKey)
	consumerID, err := r.snap.Keyring.Authenticate(key)
	if err != nil {
		msg := "Incorrect API key provided. You can find your API key in your gateway operator's records."
		if err == auth.ErrNoKey {
			msg = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or in the x-api-key header."
		}
		return r.reject(openai.InvalidAPIKey(msg), "invalid_api_key", nil)
	}
	r.consumer = r.snap.Consumers[consumerID]

	switch e := r.route(); e {
	case endpointModels:
		return r.answerModels()
	case endpointChat:
		r.endpoint = e
	default:
		return r.reject(r.routeError(), "unknown_endpoint", nil)
	}
	if h.GetEndOfStream() {
		return r.reject(openai.InvalidRequest("", "We could not parse the JSON body of your request: the body is empty. Expected a JSON object."), "empty_body", nil)
	}
	if r.consumer.AllowPinHeader {
		r.pinHint = hdr.pin
	}
	r.phase = phaseRequestBody
	return requestHeadersResponse(common(strip, nil, false, false))
}

// route maps method and path to an endpoint.
func (r *request) route() endpoint {
	switch {
	case r.path == "/v1/chat/completions" && r.method == http.MethodPost:
		return endpointChat
	case (r.path == "/v1/models" || strings.HasPrefix(r.path, "/v1/models/")) && r.method == http.MethodGet:
		return endpointModels
	}
	return endpointUnknown
}

func (r *request) routeError() *openai.Error {
	if r.path == "/v1/chat/completions" || r.path == "/v1/models" || strings.HasPrefix(r.path, "/v1/models/") {
		e := openai.MethodNotAllowed(r.method, r.path)
		return e
	}
	return openai.NotFound(r.method, r.path)
}

// answerModels serves GET /v1/models and /v1/models/{id} from configuration:
// only the models this key may use.
func (r *request) answerModels() *extprocv3.ProcessingResponse {
	ids := r.snap.ModelsFor(r.consumer)
	if id, ok := strings.CutPrefix(r.path, "/v1/models/"); ok {
		if !r.consumer.MayUse(id) || r.snap.Models[id] == nil {
			return r.reject(openai.ModelNotFound(id), "model_not_found", nil)
		}
		r.answered = http.StatusOK
		r.phase = phaseDone
		return immediate(http.StatusOK, openai.ModelBody(id, modelsCreated, modelsOwner), "application/json", nil, "llm_gateway_models")
	}
	r.answered = http.StatusOK
	r.phase = phaseDone
	return immediate(http.StatusOK, openai.ModelListBody(ids, modelsCreated, modelsOwner), "application/json", nil, "llm_gateway_models")
}

// modelsCreated is a fixed creation time for configured models: the gateway does
// not know when a provider created a model, and a stable value keeps responses
// cacheable and deterministic.
const (
	modelsCreated = 1700000000
	modelsOwner   = "llm-gateway"
)

// clientHeaders are the request headers the sidecar reads; of a repeated
// header, the last.
type clientHeaders struct {
	id, method, path        string
	authorization, apiKey   string
	pin                     string
	traceparent, tracestate string
}

// traced is what the request span reads: its name and attributes and the
// W3C trace context.
func (h *clientHeaders) traced() map[string]string {
	m := map[string]string{":method": h.method, ":path": h.path, "x-request-id": h.id}
	if h.traceparent != "" {
		m["traceparent"] = h.traceparent
		m["tracestate"] = h.tracestate
	}
	return m
}

// readRequestHeaders reads the client's headers in one pass over Envoy's list
// and returns the mutation that strips what must never travel from the client
// to a provider: the client's API key, Envoy control headers, the routing
// header and every gateway-internal header. The sidecar sets its own in the
// body phase.
func (r *request) readRequestHeaders(headers []*corev3.HeaderValue) (clientHeaders, *headerMutation) {
	var h clientHeaders
	m := &headerMutation{}
	routing := r.snap.Config.Server.RoutingHeader
	for _, hv := range headers {
		name := hv.GetKey()
		switch name {
		case "x-request-id":
			h.id = headerValue(hv)
		case ":method":
			h.method = headerValue(hv)
		case ":path":
			h.path = headerValue(hv)
		case "traceparent":
			h.traceparent = headerValue(hv)
		case "tracestate":
			h.tracestate = headerValue(hv)
		case "authorization":
			h.authorization = headerValue(hv)
		case "x-api-key":
			h.apiKey = headerValue(hv)
		case PinHeader:
			h.pin = headerValue(hv)
		}
		switch {
		case name == "authorization", name == "x-api-key", name == routing,
			strings.HasPrefix(name, "x-envoy-"), strings.HasPrefix(name, "x-gateway-"):
			if !slices.Contains(m.remove, name) {
				m.removeHeader(name)
			}
		}
	}
	return h, m
}
