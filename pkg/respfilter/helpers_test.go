package respfilter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"

	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/sse"
)

const (
	providerModel = "gpt-4o-mini-2024-07-18"
	clientModel   = "my-model"
	chunkHead     = `{"id":"chatcmpl-42","object":"chat.completion.chunk","created":1700000000,"model":"` + providerModel + `","system_fingerprint":"fp_1"`
	usageJSON     = `{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}}`
)

var wantUsage = Usage{PromptTokens: 12, CompletionTokens: 7, TotalTokens: 19, CachedPromptTokens: 2, ReasoningTokens: 1}

// openAIStream builds a stream the way OpenAI sends it with include_usage: a
// role chunk, one chunk per delta, a finish chunk, a usage chunk, [DONE].
func openAIStream(deltas ...string) []byte {
	var b bytes.Buffer
	ev := func(choice string) {
		fmt.Fprintf(&b, "data: %s,\"choices\":[%s],\"usage\":null}\n\n", chunkHead, choice)
	}
	ev(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`)
	for _, d := range deltas {
		ev(`{"index":0,"delta":{"content":` + string(jsonString(d)) + `},"logprobs":null,"finish_reason":null}`)
	}
	ev(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`)
	fmt.Fprintf(&b, "data: %s,\"choices\":[],\"usage\":%s}\n\n", chunkHead, usageJSON)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// process feeds the chunks, the last with end of stream, and returns the output.
func process(t testing.TB, s *Stream, chunks [][]byte) []byte {
	t.Helper()
	var out []byte
	for i, c := range chunks {
		b, err := s.Process(c, i == len(chunks)-1)
		if err != nil {
			t.Fatalf("Process chunk %d: %v", i, err)
		}
		out = append(out, b...)
	}
	return out
}

func splitAt(in []byte, offsets ...int) [][]byte {
	var out [][]byte
	last := 0
	for _, o := range offsets {
		out = append(out, in[last:o])
		last = o
	}
	return append(out, in[last:])
}

func randomChunks(rng *rand.Rand, in []byte) [][]byte {
	var out [][]byte
	for len(in) > 0 {
		n := 1 + rng.IntN(min(len(in), 40))
		out = append(out, in[:n])
		in = in[n:]
	}
	return append(out, nil) // Envoy may end with an empty chunk
}

// client is what an OpenAI SDK user sees of a stream.
type client struct {
	content map[int64]string
	finish  map[int64]string
	usage   *openai.CompletionUsage
	models  map[string]bool
	ids     map[string]bool
	chunks  int
}

// decodeClient checks that out is a well-formed stream (every event
// terminated, data either JSON or a final [DONE]) and decodes it with the
// official SDK.
func decodeClient(t testing.TB, out []byte) client {
	t.Helper()
	p := sse.NewParser(sse.Options{})
	if err := p.Feed(out); err != nil {
		t.Fatal(err)
	}
	p.End()
	done := false
	for {
		ev, ok, err := p.Next()
		if err != nil || !ok {
			break
		}
		switch {
		case ev.Unterminated:
			t.Fatalf("unterminated event %q in output", ev.Raw)
		case done:
			t.Fatalf("event after [DONE]: %q", ev.Raw)
		case string(ev.Data) == "[DONE]":
			done = true
		case !json.Valid(ev.Data):
			t.Fatalf("event data is not JSON: %q", ev.Data)
		}
	}
	if !done {
		t.Fatalf("no [DONE] in output:\n%s", out)
	}
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(out))}
	st := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	c := client{content: map[int64]string{}, finish: map[int64]string{}, models: map[string]bool{}, ids: map[string]bool{}}
	for st.Next() {
		ch := st.Current()
		c.chunks++
		c.models[ch.Model] = true
		c.ids[ch.ID] = true
		for _, choice := range ch.Choices {
			if !utf8.ValidString(choice.Delta.Content) {
				t.Fatalf("content %q is not UTF-8", choice.Delta.Content)
			}
			c.content[choice.Index] += choice.Delta.Content
			if choice.FinishReason != "" {
				if prev := c.finish[choice.Index]; prev != "" {
					t.Fatalf("choice %d finished twice (%s, %s)", choice.Index, prev, choice.FinishReason)
				}
				c.finish[choice.Index] = choice.FinishReason
			}
		}
		if ch.JSON.Usage.Valid() {
			u := ch.Usage
			c.usage = &u
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("SDK stream error: %v\n%s", err, out)
	}
	return c
}

func policy(t testing.TB, opts guardrail.Options) *guardrail.Policy {
	t.Helper()
	p, err := guardrail.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenRE splits text roughly like GPT tokenizers: a word with its leading
// space, or a run of white space.
var tokenRE = regexp.MustCompile(` ?[^\s]+|\s+`)

// countTokens is the test token counter.
func countTokens(s string) int { return len(tokenRE.FindAllStringIndex(s, -1)) }
