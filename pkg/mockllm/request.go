package mockllm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chatRequest is what the mock needs of a chat completion request.
type chatRequest struct {
	Model        string
	Messages     []chatMessage
	Stream       bool
	IncludeUsage bool
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when absent.
	MaxTokens int
	N         int
}

type chatMessage struct {
	Role string
	Text string
}

type wireRequest struct {
	Model               *string         `json:"model"`
	Messages            *[]wireMessage  `json:"messages"`
	Stream              *bool           `json:"stream"`
	StreamOptions       *wireStreamOpts `json:"stream_options"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	N                   *int            `json:"n"`
}

type wireStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type wireMessage struct {
	Role    *string         `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wirePart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// parseChatRequest validates a chat completion body the way a provider does:
// enough to answer a malformed request with a 400 naming the culprit, no more.
func parseChatRequest(body []byte) (*chatRequest, *apiError) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			e := invalidRequest(fmt.Sprintf("Invalid type for '%s': expected %s.", typeErr.Field, typeErr.Type), typeErr.Field)
			return nil, &e
		}
		e := invalidRequest("We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.", "")
		return nil, &e
	}
	req := &chatRequest{N: 1}
	if w.Model == nil || *w.Model == "" {
		return nil, errAt("model", "you must provide a model parameter")
	}
	req.Model = *w.Model
	if e := parseMessages(w.Messages, req); e != nil {
		return nil, e
	}
	if w.Stream != nil {
		req.Stream = *w.Stream
	}
	if w.StreamOptions != nil {
		if !req.Stream {
			return nil, errAt("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		}
		req.IncludeUsage = w.StreamOptions.IncludeUsage
	}
	for _, p := range []struct {
		name string
		v    *int
		max  int
	}{{"max_tokens", w.MaxTokens, 1 << 30}, {"max_completion_tokens", w.MaxCompletionTokens, 1 << 30}, {"n", w.N, 128}} {
		if p.v == nil {
			continue
		}
		if *p.v < 1 || *p.v > p.max {
			return nil, errAt(p.name, fmt.Sprintf("Invalid '%s': %d is out of range (1..%d).", p.name, *p.v, p.max))
		}
	}
	if w.MaxTokens != nil {
		req.MaxTokens = *w.MaxTokens
	}
	if w.MaxCompletionTokens != nil {
		req.MaxTokens = *w.MaxCompletionTokens
	}
	if w.N != nil {
		req.N = *w.N
	}
	return req, nil
}

func parseMessages(raw *[]wireMessage, req *chatRequest) *apiError {
	if raw == nil {
		return errAt("messages", "Missing required parameter: 'messages'.")
	}
	if len(*raw) == 0 {
		return errAt("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.")
	}
	for i, m := range *raw {
		at := fmt.Sprintf("messages[%d]", i)
		if m.Role == nil || *m.Role == "" {
			return errAt(at+".role", fmt.Sprintf("Missing required parameter: '%s.role'.", at))
		}
		text, ok := contentText(m.Content)
		if !ok {
			return errAt(at+".content", fmt.Sprintf("Invalid type for '%s.content': expected a string or an array of content parts.", at))
		}
		req.Messages = append(req.Messages, chatMessage{Role: *m.Role, Text: text})
	}
	return nil
}

// contentText returns the text of a message content: a string, an array of
// parts (text parts joined by newlines), or null.
func contentText(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var parts []wirePart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", false
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Type == "text" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), true
}

func errAt(param, msg string) *apiError {
	e := invalidRequest(msg, param)
	return &e
}

// promptTokens is the mock's prompt accounting: words in all messages.
func (r *chatRequest) promptTokens() int {
	n := 0
	for _, m := range r.Messages {
		n += len(strings.Fields(m.Text))
	}
	return n
}

// lastUserText is the text the reply is derived from (the last user message,
// else the last message).
func (r *chatRequest) lastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Text
		}
	}
	return r.Messages[len(r.Messages)-1].Text
}
