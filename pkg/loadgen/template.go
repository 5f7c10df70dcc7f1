package loadgen

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// template holds every message of one request, built once per run. Messages
// are only read after construction, so all workers share them; only the
// request headers differ per request (x-request-id).
type template struct {
	reqHeaders   []*corev3.HeaderValue // without x-request-id
	protocol     *extprocv3.ProtocolConfiguration
	reqBody      *extprocv3.ProcessingRequest
	respHeaders  *extprocv3.ProcessingRequest
	bufferedBody *extprocv3.ProcessingRequest
	// chunks is the streamed response body: one message per SSE event, the
	// last one with end_of_stream.
	chunks []*extprocv3.ProcessingRequest
	// tokenChunks is how many of chunks carry completion tokens.
	tokenChunks int
}

// baseMode is the processing mode the project's envoy.yaml configures.
func baseMode() mode {
	return mode{
		reqBody:     filterv3.ProcessingMode_BUFFERED,
		respHeaders: filterv3.ProcessingMode_SEND,
		respBody:    filterv3.ProcessingMode_BUFFERED,
	}
}

func newTemplate(o Options) (*template, error) {
	body, err := requestBody(o.Model, o.PromptBytes, o.Chunks, o.Stream)
	if err != nil {
		return nil, err
	}
	promptTokens := o.PromptBytes/4 + 10 // ~4 bytes a token, plus the system message
	t := &template{
		reqHeaders: headerValues(
			":authority", o.Authority, ":path", o.Path, ":method", "POST", ":scheme", "http",
			"content-type", "application/json", "accept", "application/json",
			"authorization", "Bearer "+o.Key, "user-agent", "OpenAI/Python 1.82.0",
			"x-stainless-lang", "python", "x-stainless-package-version", "1.82.0",
			"x-stainless-os", "Linux", "x-stainless-arch", "x64", "x-stainless-runtime", "CPython",
			"x-stainless-retry-count", "0", "content-length", strconv.Itoa(len(body)),
			"x-forwarded-for", "127.0.0.1", "x-forwarded-proto", "http",
		),
		protocol: &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  filterv3.ProcessingMode_BUFFERED,
			ResponseBodyMode: filterv3.ProcessingMode_BUFFERED,
		},
		reqBody: bodyMessage(false, body, true),
	}
	if o.Stream {
		err = t.buildStream(o.UpstreamModel, promptTokens, o.Chunks)
	} else {
		err = t.buildJSON(o.UpstreamModel, promptTokens, o.Chunks)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *template) buildJSON(model string, promptTokens, n int) error {
	body, err := completionBody(model, promptTokens, n)
	if err != nil {
		return err
	}
	t.respHeaders = headersMessage(true, upstreamHeaders("application/json", strconv.Itoa(len(body))))
	t.bufferedBody = bodyMessage(true, body, true)
	return nil
}

func (t *template) buildStream(model string, promptTokens, n int) error {
	events, err := sseEvents(model, promptTokens, n)
	if err != nil {
		return err
	}
	t.respHeaders = headersMessage(true, upstreamHeaders("text/event-stream; charset=utf-8", ""))
	var whole []byte
	for i, ev := range events {
		t.chunks = append(t.chunks, bodyMessage(true, ev, i == len(events)-1))
		whole = append(whole, ev...)
	}
	t.bufferedBody = bodyMessage(true, whole, true)
	t.tokenChunks = n
	return nil
}

// upstreamHeaders are what OpenAI answers with, behind Envoy's router; the
// provider-identifying ones are there so a sidecar that strips them does so.
func upstreamHeaders(contentType, contentLength string) []*corev3.HeaderValue {
	kv := []string{":status", "200", "content-type", contentType,
		"date", "Mon, 10 Mar 2025 01:25:52 GMT", "openai-organization", "user-loadgen",
		"openai-processing-ms", "412", "openai-version", "2020-10-01",
		"x-ratelimit-limit-requests", "10000", "x-ratelimit-remaining-requests", "9999",
		"x-ratelimit-limit-tokens", "200000", "x-ratelimit-remaining-tokens", "199600",
		"x-request-id", "req_6f1a0c5d9e2b4a7f8c3d1e0b2a4c6d8e", "server", "cloudflare",
		"cf-ray", "91e0c7b0f8a3e2d1-AMS", "x-envoy-upstream-service-time", "415"}
	if contentLength != "" {
		kv = append(kv, "content-length", contentLength)
	}
	return headerValues(kv...)
}

// headerValues builds Envoy's header list: lower-case names, values in raw_value.
func headerValues(kv ...string) []*corev3.HeaderValue {
	out := make([]*corev3.HeaderValue, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return out
}

// Every message carries metadata_context, empty without forwarding
// namespaces, as Envoy sends it.
func headersMessage(response bool, h []*corev3.HeaderValue) *extprocv3.ProcessingRequest {
	hh := &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: h}}
	if response {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: hh},
			MetadataContext: &corev3.Metadata{}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: hh},
		MetadataContext: &corev3.Metadata{}}
}

func bodyMessage(response bool, body []byte, eos bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: body, EndOfStream: eos}
	if response {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b},
			MetadataContext: &corev3.Metadata{}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: b},
		MetadataContext: &corev3.Metadata{}}
}

// requestHeaders is the first message of a stream: every request header plus
// this request's id, and the protocol configuration Envoy sends first.
func (t *template) requestHeaders(id string) *extprocv3.ProcessingRequest {
	h := make([]*corev3.HeaderValue, len(t.reqHeaders), len(t.reqHeaders)+1)
	copy(h, t.reqHeaders)
	h = append(h, &corev3.HeaderValue{Key: "x-request-id", RawValue: []byte(id)})
	m := headersMessage(false, h)
	m.ProtocolConfig = t.protocol
	return m
}

// idSource makes request ids shaped like Envoy's UUIDv4: a random prefix per
// run and a counter, unique without a random read per request.
type idSource struct{ prefix string }

func newIDSource(r io.Reader) (idSource, error) {
	var b [10]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return idSource{}, fmt.Errorf("loadgen: request id seed: %w", err)
	}
	h := hex.EncodeToString(b[:])
	return idSource{prefix: h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-"}, nil
}

func (s idSource) id(n uint64) string {
	return fmt.Sprintf("%s%012x", s.prefix, n)
}
