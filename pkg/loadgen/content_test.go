package loadgen

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

func TestRequestBodyHasTheConfiguredPrompt(t *testing.T) {
	for _, tt := range []struct {
		name   string
		prompt int
		stream bool
	}{{"tiny", 1, false}, {"1 KiB stream", 1024, true}, {"odd size", 4097, false}} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := requestBody("gpt-x", tt.prompt, 50, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			var req chatRequest
			if err := json.Unmarshal(b, &req); err != nil {
				t.Fatal(err)
			}
			if len(req.Messages) != 2 || len(req.Messages[1].Content) != tt.prompt || req.Stream != tt.stream || req.Model != "gpt-x" {
				t.Fatalf("request %+v", req)
			}
		})
	}
}

// The bodies must decode with the official SDK's types, as a client would.
func TestCompletionBodiesDecodeWithTheOpenAISDK(t *testing.T) {
	t.Run("chat.completion", func(t *testing.T) {
		b, err := completionBody("gpt-x", 266, 7)
		if err != nil {
			t.Fatal(err)
		}
		var c openai.ChatCompletion
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "chat.completion" || c.Usage.CompletionTokens != 7 || c.Usage.TotalTokens != 273 ||
			len(strings.Fields(c.Choices[0].Message.Content)) != 7 || c.Choices[0].FinishReason != "stop" {
			t.Fatalf("completion %s", b)
		}
	})
	t.Run("chat.completion.chunk stream", func(t *testing.T) {
		events, err := sseEvents("gpt-x", 266, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 7 || string(events[6]) != "data: [DONE]\n\n" {
			t.Fatalf("%d events, last %q", len(events), events[len(events)-1])
		}
		var text strings.Builder
		for i, ev := range events[:6] {
			data, ok := bytes.CutPrefix(ev, []byte("data: "))
			if !ok || !bytes.HasSuffix(data, []byte("\n\n")) {
				t.Fatalf("event %d not SSE framed: %q", i, ev)
			}
			var c openai.ChatCompletionChunk
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			if c.Object != "chat.completion.chunk" {
				t.Fatalf("event %d object %q", i, c.Object)
			}
			if i == 5 {
				if len(c.Choices) != 0 || c.Usage.CompletionTokens != 5 {
					t.Fatalf("usage chunk %s", data)
				}
				continue
			}
			text.WriteString(c.Choices[0].Delta.Content)
			if (i == 0) != (c.Choices[0].Delta.Role == "assistant") || (i == 4) != (c.Choices[0].FinishReason == "stop") {
				t.Fatalf("chunk %d role/finish wrong: %s", i, data)
			}
		}
		if got := len(strings.Fields(text.String())); got != 5 {
			t.Fatalf("streamed text %q has %d words", text.String(), got)
		}
	})
}
