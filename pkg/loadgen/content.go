package loadgen

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The bodies below mimic what the OpenAI SDK sends and what OpenAI answers,
// field for field, so a sidecar parsing them does the work it does in
// production. They are built once per run and shared by every request.

// created is a fixed timestamp: the content of the bodies is not under test.
const created = 1741569952

// completionID is shared by every response: the sidecar never dedups on it.
const completionID = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"

// fingerprint appears in every OpenAI completion.
const fingerprint = "fp_06737a9306"

// vocabulary supplies prompt text and one-token completion pieces.
const vocabulary = "The gateway adds almost nothing to each request it sees so every microsecond " +
	"in the sidecar counts for latency budgets"

// promptText returns exactly n bytes of plain words.
func promptText(n int) string {
	var b strings.Builder
	b.Grow(n + len(vocabulary) + 1)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary)
	}
	return b.String()[:n]
}

// tokens returns n completion tokens, each one word with the leading space
// tokenizers keep, so n chunks carry about n tokens.
func tokens(n int) []string {
	words := strings.Fields(vocabulary)
	out := make([]string, n)
	for i := range out {
		out[i] = " " + words[i%len(words)]
	}
	if n > 0 {
		out[0] = words[0]
	}
	return out
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	MaxTokens   int           `json:"max_tokens"`
	Temperature float64       `json:"temperature"`
	Stream      bool          `json:"stream,omitempty"`
}

// requestBody is the client's chat request with a user prompt of promptBytes.
func requestBody(model string, promptBytes, maxTokens int, stream bool) ([]byte, error) {
	b, err := json.Marshal(chatRequest{
		Model: model,
		Messages: []chatMessage{
			{Role: "system", Content: "You are a helpful assistant."},
			{Role: "user", Content: promptText(promptBytes)},
		},
		MaxTokens:   maxTokens,
		Temperature: 0.7,
		Stream:      stream,
	})
	if err != nil {
		return nil, fmt.Errorf("loadgen: encode request body: %w", err)
	}
	return b, nil
}

type usage struct {
	PromptTokens            int            `json:"prompt_tokens"`
	CompletionTokens        int            `json:"completion_tokens"`
	TotalTokens             int            `json:"total_tokens"`
	PromptTokensDetails     map[string]int `json:"prompt_tokens_details"`
	CompletionTokensDetails map[string]int `json:"completion_tokens_details"`
}

func newUsage(promptTokens, completionTokens int) *usage {
	return &usage{
		PromptTokens:            promptTokens,
		CompletionTokens:        completionTokens,
		TotalTokens:             promptTokens + completionTokens,
		PromptTokensDetails:     map[string]int{"cached_tokens": 0, "audio_tokens": 0},
		CompletionTokensDetails: map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

type completionMessage struct {
	Role        string   `json:"role"`
	Content     string   `json:"content"`
	Refusal     *string  `json:"refusal"`
	Annotations []string `json:"annotations"`
}

type completionChoice struct {
	Index        int               `json:"index"`
	Message      completionMessage `json:"message"`
	Logprobs     *string           `json:"logprobs"`
	FinishReason string            `json:"finish_reason"`
}

type completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []completionChoice `json:"choices"`
	Usage             *usage             `json:"usage"`
	ServiceTier       string             `json:"service_tier"`
	SystemFingerprint string             `json:"system_fingerprint"`
}

// completionBody is a non-streaming chat.completion of n tokens with usage.
func completionBody(model string, promptTokens, n int) ([]byte, error) {
	text := strings.Join(tokens(n), "")
	b, err := json.Marshal(completion{
		ID: completionID, Object: "chat.completion", Created: created, Model: model,
		Choices: []completionChoice{{
			Message:      completionMessage{Role: "assistant", Content: text, Annotations: []string{}},
			FinishReason: "stop",
		}},
		Usage:       newUsage(promptTokens, n),
		ServiceTier: "default", SystemFingerprint: fingerprint,
	})
	if err != nil {
		return nil, fmt.Errorf("loadgen: encode completion: %w", err)
	}
	return b, nil
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	Refusal *string `json:"refusal,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	Logprobs     *string    `json:"logprobs"`
	FinishReason *string    `json:"finish_reason"`
}

type chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	ServiceTier       string        `json:"service_tier"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	Usage             *usage        `json:"usage"`
}

// sseEvents returns the stream of a completion of n tokens as OpenAI sends it
// with stream_options.include_usage: n chunk events of one token each (the
// first also carries the role, the last the finish reason), the usage chunk
// with empty choices, then the [DONE] sentinel. Each element is one SSE event.
func sseEvents(model string, promptTokens, n int) ([][]byte, error) {
	events := make([][]byte, 0, n+2)
	for i, tok := range tokens(n) {
		c := newChunk(model)
		c.Choices = []chunkChoice{{Delta: chunkDelta{Content: &tok}}}
		if i == 0 {
			c.Choices[0].Delta.Role = "assistant"
		}
		if i == n-1 {
			stop := "stop"
			c.Choices[0].FinishReason = &stop
		}
		ev, err := sseEvent(c)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	c := newChunk(model)
	c.Choices = []chunkChoice{}
	c.Usage = newUsage(promptTokens, n)
	ev, err := sseEvent(c)
	if err != nil {
		return nil, err
	}
	return append(events, ev, []byte("data: [DONE]\n\n")), nil
}

func newChunk(model string) *chunk {
	return &chunk{ID: completionID, Object: "chat.completion.chunk", Created: created, Model: model,
		ServiceTier: "default", SystemFingerprint: fingerprint}
}

func sseEvent(c *chunk) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("loadgen: encode chunk: %w", err)
	}
	return append(append([]byte("data: "), b...), '\n', '\n'), nil
}
