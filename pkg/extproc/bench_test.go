package extproc

import (
	"strings"
	"testing"
)

var benchPrompt = strings.Repeat("The quick brown fox jumps over the lazy dog. ", 23) // ~1 KiB

const benchResponse = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"upstream-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":230,"completion_tokens":10,"total_tokens":240}}`

// BenchmarkChatRequestJSON plays one whole non-streaming request (four phases)
// over real loopback gRPC, as Envoy sends it: the sidecar's per-request cost
// including gRPC, quota (memory store), routing, rewrite and response filtering.
func BenchmarkChatRequestJSON(b *testing.B) {
	c := startServer(b, testConfig(b))
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"` + benchPrompt + `"}],"max_tokens":64}`
	b.ReportAllocs()
	for b.Loop() {
		s := openStream(b, c)
		s.send(chatHeaders(testKey))
		s.send(reqBody(body))
		s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
		s.send(respBody(benchResponse, true))
		s.close()
	}
}

// BenchmarkRequestBodyPhase isolates the request-body phase work (parse,
// guardrail, estimate, reservation, routing, rewrite) without gRPC.
func BenchmarkRequestBodyPhase(b *testing.B) {
	srv := newTestServer(b, testConfig(b))
	body := reqBody(`{"model":"gpt-test","messages":[{"role":"user","content":"` + benchPrompt + `"}],"max_tokens":64}`)
	hdrs := chatHeaders(testKey)
	b.ReportAllocs()
	for b.Loop() {
		r := newRequest(srv, srv.opts.Snapshot())
		r.handle(b.Context(), hdrs)
		r.handle(b.Context(), body)
		r.finish(b.Context())
	}
}
