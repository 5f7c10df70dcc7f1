package extproc

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
)

// headerMutation accumulates header changes for one answer. Values always go in
// raw_value (Envoy ignores value when raw_value is set and older filters read only
// raw_value), and append_action OVERWRITE_IF_EXISTS_OR_ADD with the deprecated
// append left unset overwrites under every Envoy version.
type headerMutation struct {
	set    []*corev3.HeaderValueOption
	remove []string
	// entries and values back the set headers in blocks, so an answer with a
	// dozen headers costs a few allocations rather than three per header.
	entries []headerEntry
	values  []byte
}

// headerEntry is one set header's two protobuf messages, allocated together.
type headerEntry struct {
	opt corev3.HeaderValueOption
	val corev3.HeaderValue
}

// headerBlock is how many entries are allocated at once.
const headerBlock = 8

func (m *headerMutation) setHeader(name, value string) {
	if len(m.entries) == 0 {
		m.entries = make([]headerEntry, headerBlock)
	}
	e := &m.entries[0]
	m.entries = m.entries[1:]
	// Values share one buffer; each is capped at its own length, so appending
	// a later value (which may move the buffer) never writes into an earlier one.
	if m.values == nil {
		m.values = make([]byte, 0, 256)
	}
	start := len(m.values)
	m.values = append(m.values, value...)
	e.val.Key, e.val.RawValue = name, m.values[start:len(m.values):len(m.values)]
	e.opt.Header, e.opt.AppendAction = &e.val, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
	m.set = append(m.set, &e.opt)
}

func (m *headerMutation) removeHeader(name string) { m.remove = append(m.remove, name) }

func (m *headerMutation) empty() bool { return len(m.set) == 0 && len(m.remove) == 0 }

func (m *headerMutation) proto() *extprocv3.HeaderMutation {
	if m == nil || m.empty() {
		return nil
	}
	return &extprocv3.HeaderMutation{SetHeaders: m.set, RemoveHeaders: m.remove}
}

// common builds a CONTINUE CommonResponse with optional mutations.
func common(h *headerMutation, body []byte, replaceBody bool, clearRouteCache bool) *extprocv3.CommonResponse {
	c := &extprocv3.CommonResponse{HeaderMutation: h.proto()}
	if replaceBody {
		c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}}
	}
	// clear_route_cache only has effect together with a header mutation.
	c.ClearRouteCache = clearRouteCache && c.HeaderMutation != nil
	return c
}

func requestHeadersResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: c}}}
}

func requestBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
		RequestBody: &extprocv3.BodyResponse{Response: c}}}
}

func responseHeadersResponse(c *extprocv3.CommonResponse, override *filterv3.ProcessingMode) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{
		Response: &extprocv3.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocv3.HeadersResponse{Response: c}},
		ModeOverride: override,
	}
}

func responseBodyResponse(c *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
		ResponseBody: &extprocv3.BodyResponse{Response: c}}}
}

func trailersResponse(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	if _, ok := req.Request.(*extprocv3.ProcessingRequest_ResponseTrailers); ok {
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
		RequestTrailers: &extprocv3.TrailersResponse{}}}
}

// immediate answers the client directly; Envoy never calls the upstream.
func immediate(status int, body []byte, contentType string, extra [][2]string, details string) *extprocv3.ProcessingResponse {
	h := &headerMutation{}
	h.setHeader("content-type", contentType)
	for _, kv := range extra {
		h.setHeader(kv[0], kv[1])
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(status)},
			Headers: h.proto(),
			Body:    body,
			Details: details,
		}}}
}

// errorResponse answers with an OpenAI-shaped error.
func errorResponse(e *openai.Error, extra [][2]string) *extprocv3.ProcessingResponse {
	details := "llm_gateway_" + strconv.Itoa(e.Status)
	if e.Code != "" {
		details = "llm_gateway_" + e.Code
	}
	return immediate(e.Status, e.Body(), "application/json", extra, details)
}

// streamedResponseBody is the mode override that switches the response body of an
// SSE answer to STREAMED so chunks reach the client as they come.
func streamedResponseBody() *filterv3.ProcessingMode {
	return &filterv3.ProcessingMode{
		ResponseHeaderMode: filterv3.ProcessingMode_SEND,
		ResponseBodyMode:   filterv3.ProcessingMode_STREAMED,
	}
}
