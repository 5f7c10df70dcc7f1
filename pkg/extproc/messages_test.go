package extproc

import (
	"fmt"
	"strings"
	"testing"
)

// TestHeaderMutationKeepsEveryValue sets more headers than one block holds,
// with values long enough to move the shared value buffer, and checks that no
// value was overwritten or aliased by a later one.
func TestHeaderMutationKeepsEveryValue(t *testing.T) {
	m := &headerMutation{}
	want := map[string]string{}
	for i := range 3*headerBlock + 1 {
		name, value := fmt.Sprintf("x-h-%d", i), strings.Repeat(string(rune('a'+i%26)), 10*i+1)
		m.setHeader(name, value)
		want[name] = value
	}
	p := m.proto()
	if len(p.SetHeaders) != len(want) {
		t.Fatalf("%d headers, want %d", len(p.SetHeaders), len(want))
	}
	for _, h := range p.SetHeaders {
		if got := string(h.Header.RawValue); got != want[h.Header.Key] {
			t.Errorf("%s = %q, want %q", h.Header.Key, got, want[h.Header.Key])
		}
		if cap(h.Header.RawValue) != len(h.Header.RawValue) {
			t.Errorf("%s: value capacity %d exceeds its length %d: an append could overwrite a neighbour",
				h.Header.Key, cap(h.Header.RawValue), len(h.Header.RawValue))
		}
	}
}

// TestUnchangedRequestBodyIsNotSentBack: when the provider's model name is
// the client's and nothing is added (a non-streaming request), the answer
// carries no body mutation and no content-length; a renamed model does.
func TestUnchangedRequestBodyIsNotSentBack(t *testing.T) {
	srv := newTestServer(t, testConfig(t))
	for _, c := range []struct {
		key, model string
		replaced   bool
	}{{testKeyOther, "other-model", false}, {testKey, "gpt-test", true}} {
		r := newRequest(srv, srv.opts.Snapshot())
		r.handle(t.Context(), chatHeaders(c.key))
		resp := r.handle(t.Context(), reqBody(`{"model":"`+c.model+`","messages":[{"role":"user","content":"hi"}]}`))
		common := resp.GetRequestBody().GetResponse()
		if common == nil {
			t.Fatalf("%s: not a request body answer: %v", c.model, resp)
		}
		hasLength := false
		for _, h := range common.GetHeaderMutation().GetSetHeaders() {
			hasLength = hasLength || h.GetHeader().GetKey() == "content-length"
		}
		if got := common.GetBodyMutation() != nil; got != c.replaced || hasLength != c.replaced {
			t.Errorf("%s: body mutation %v, content-length %v; want both %v", c.model, got, hasLength, c.replaced)
		}
		if !common.GetClearRouteCache() {
			t.Errorf("%s: route cache not cleared", c.model)
		}
		r.finish(t.Context())
	}
}

// TestUnchangedStreamChunkIsPassed: a streamed chunk the filter leaves as it
// is (the provider's model name is the client's, nothing to redact) is
// answered without a body mutation; one it changes carries the new bytes.
func TestUnchangedStreamChunkIsPassed(t *testing.T) {
	srv := newTestServer(t, testConfig(t))
	r := newRequest(srv, srv.opts.Snapshot())
	r.handle(t.Context(), chatHeaders(testKeyOther))
	r.handle(t.Context(), reqBody(`{"model":"other-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	r.handle(t.Context(), respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
	chunk := func(model, text string) string {
		return `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"` + model +
			`","choices":[{"index":0,"delta":{"content":"` + text + `"},"finish_reason":null}]}` + "\n\n"
	}
	for _, c := range []struct {
		chunk   string
		mutated bool
	}{
		{chunk("other-model", "hello"), false},
		{chunk("other-model-2025", "hello"), true}, // model name restored
		{chunk("other-model", "hello again"), false},
	} {
		resp := r.handle(t.Context(), respBody(c.chunk, false))
		m := resp.GetResponseBody().GetResponse().GetBodyMutation()
		if (m != nil) != c.mutated {
			t.Errorf("chunk %q: body mutation %v, want %v", c.chunk, m != nil, c.mutated)
		}
		if m != nil && strings.Contains(string(m.GetBody()), "other-model-2025") {
			t.Errorf("model name not restored: %s", m.GetBody())
		}
	}
	r.finish(t.Context())
}
