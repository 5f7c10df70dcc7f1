package sse

import "testing"

// BenchmarkParserEvent measures one typical chat completion chunk arriving as
// one body chunk, as the response filter feeds it.
func BenchmarkParserEvent(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741569952,` +
		`"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306",` +
		`"choices":[{"index":0,"delta":{"content":" gateway"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	p := NewParser(Options{})
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Feed(chunk); err != nil {
			b.Fatal(err)
		}
		for {
			_, ok, err := p.Next()
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
}
