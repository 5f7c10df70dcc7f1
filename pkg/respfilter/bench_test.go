package respfilter

import (
	"strings"
	"testing"

	"github.com/llm-gateway/gateway/pkg/guardrail"
)

// benchBanned is a realistic small list of banned words and phrases.
var benchBanned = []string{"damn", "hell no", "idiot", "stupid", "shut up", "moron", "crap", "bloody hell", "secret project", "internal only"}

func benchOptions(b *testing.B, mode string) Options {
	opts := Options{ClientModel: clientModel}
	switch mode {
	case "redact":
		opts.Policy = policy(b, guardrail.Options{Banned: benchBanned})
	case "redact+caps":
		opts.Policy = policy(b, guardrail.Options{Banned: benchBanned, MaxChars: 1 << 30, MaxTokens: 1 << 30, CountTokens: countTokens})
	}
	return opts
}

// BenchmarkStreamChunk measures one typical streamed chunk (one token of
// content, as OpenAI sends it) arriving as one ext_proc body chunk.
func BenchmarkStreamChunk(b *testing.B) {
	chunk := []byte("data: " + chunkHead + `,"choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	for _, mode := range []string{"off", "redact", "redact+caps"} {
		b.Run(mode, func(b *testing.B) { benchStream(b, benchOptions(b, mode), chunk) })
	}
	// The chunk pkg/loadgen sends, with include_usage as the OpenAI SDKs ask:
	// "usage":null on every content chunk, which the filter must check.
	load := []byte("data: " + loadChunk(`{"content":" gateway"}`, "null") + "\n\n")
	b.Run("loadgen/redact", func(b *testing.B) { benchStream(b, benchOptions(b, "redact"), load) })
	b.Run("loadgen/redact/include_usage", func(b *testing.B) {
		opts := benchOptions(b, "redact")
		opts.ClientWantsUsage = true
		benchStream(b, opts, load)
	})
}

func benchStream(b *testing.B, opts Options, chunk []byte) {
	s := NewStream(opts)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Process(chunk, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilterJSON measures a 1 KiB non-streamed response.
func BenchmarkFilterJSON(b *testing.B) {
	content := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 17)
	body := []byte(completion(content, true))
	for _, mode := range []string{"off", "redact"} {
		b.Run(mode, func(b *testing.B) {
			opts := benchOptions(b, mode)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := FilterJSON(body, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
