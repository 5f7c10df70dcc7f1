package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// ChatRequest is what the gateway needs to know of a chat completion request. The
// body itself is forwarded as the client wrote it, with only the fields the gateway
// owns rewritten (see Rewrite), so fields the gateway does not know survive intact.
type ChatRequest struct {
	Model    string
	Messages []Message
	Stream   bool
	// IncludeUsage is the client's stream_options.include_usage.
	IncludeUsage bool
	// MaxOutputTokens is max_completion_tokens, else max_tokens; 0 when absent.
	MaxOutputTokens int64
	// N is the number of choices requested (1 when absent).
	N int64
	// ToolsBytes is the size of the tools/functions definitions, which the provider
	// also turns into prompt tokens.
	ToolsBytes int
}

// Message is one chat message reduced to the text that costs tokens.
type Message struct {
	Role string
	Name string
	// Text is the concatenated text content (string content or text parts).
	Text string
	// ExtraBytes counts non-text payload that still becomes prompt tokens
	// (tool call arguments, image URLs), for a conservative estimate.
	ExtraBytes int
}

// Texts returns every message's text, for guardrails.
func (r *ChatRequest) Texts() []string {
	out := make([]string, 0, len(r.Messages))
	for _, m := range r.Messages {
		out = append(out, m.Text)
	}
	return out
}

var validRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

// ParseChatRequest validates a /v1/chat/completions body. A validation failure is
// returned as an *Error (400) naming the offending field.
func ParseChatRequest(body []byte) (*ChatRequest, *Error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, InvalidRequest("", "We could not parse the JSON body of your request: the body is empty. Expected a JSON object.")
		}
		return nil, InvalidRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
	}
	req := &ChatRequest{N: 1}
	if e := parseModel(top, req); e != nil {
		return nil, e
	}
	if e := parseMessages(top["messages"], req); e != nil {
		return nil, e
	}
	if e := parseOptions(top, req); e != nil {
		return nil, e
	}
	return req, nil
}

func parseModel(top map[string]json.RawMessage, req *ChatRequest) *Error {
	raw, ok := top["model"]
	if !ok || isNull(raw) {
		return InvalidRequest("model", "you must provide a model parameter")
	}
	if err := json.Unmarshal(raw, &req.Model); err != nil {
		return wrongType("model", "a string")
	}
	if req.Model == "" {
		return InvalidRequest("model", "you must provide a model parameter")
	}
	return nil
}

func parseMessages(raw json.RawMessage, req *ChatRequest) *Error {
	if raw == nil || isNull(raw) {
		return InvalidRequest("messages", "Missing required parameter: 'messages'.")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return wrongType("messages", "an array")
	}
	if len(items) == 0 {
		return InvalidRequest("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	req.Messages = make([]Message, 0, len(items))
	for i, item := range items {
		m, e := parseMessage(item, "messages["+strconv.Itoa(i)+"]")
		if e != nil {
			return e
		}
		req.Messages = append(req.Messages, m)
	}
	return nil
}

type wireMessage struct {
	Role         *json.RawMessage `json:"role"`
	Name         json.RawMessage  `json:"name"`
	Content      json.RawMessage  `json:"content"`
	ToolCalls    json.RawMessage  `json:"tool_calls"`
	FunctionCall json.RawMessage  `json:"function_call"`
}

type contentPart struct {
	Type string          `json:"type"`
	Text *string         `json:"text"`
	Rest json.RawMessage `json:"-"`
}

func parseMessage(raw json.RawMessage, path string) (Message, *Error) {
	var w wireMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		return Message{}, wrongType(path, "an object")
	}
	var m Message
	if w.Role == nil || isNull(*w.Role) {
		return m, InvalidRequest(path+".role", "Missing required parameter: '"+path+".role'.")
	}
	if err := json.Unmarshal(*w.Role, &m.Role); err != nil {
		return m, wrongType(path+".role", "a string")
	}
	if !validRoles[m.Role] {
		return m, InvalidRequest(path+".role", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", m.Role))
	}
	if w.Name != nil && !isNull(w.Name) {
		if err := json.Unmarshal(w.Name, &m.Name); err != nil {
			return m, wrongType(path+".name", "a string")
		}
	}
	if e := parseContent(w.Content, path+".content", &m); e != nil {
		return m, e
	}
	m.ExtraBytes += len(w.ToolCalls) + len(w.FunctionCall)
	if m.Role != "assistant" && (w.Content == nil || isNull(w.Content)) {
		return m, InvalidRequest(path+".content", "Missing required parameter: '"+path+".content'.")
	}
	return m, nil
}

func parseContent(raw json.RawMessage, path string, m *Message) *Error {
	if raw == nil || isNull(raw) {
		return nil
	}
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &m.Text); err != nil {
			return wrongType(path, "a string or an array of content parts")
		}
		return nil
	case '[':
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return wrongType(path, "a string or an array of content parts")
		}
		var text bytes.Buffer
		for i, p := range parts {
			var part contentPart
			pp := path + "[" + strconv.Itoa(i) + "]"
			if err := json.Unmarshal(p, &part); err != nil {
				return wrongType(pp, "an object")
			}
			if part.Type == "" {
				return InvalidRequest(pp+".type", "Missing required parameter: '"+pp+".type'.")
			}
			if part.Type == "text" {
				if part.Text == nil {
					return InvalidRequest(pp+".text", "Missing required parameter: '"+pp+".text'.")
				}
				if text.Len() > 0 {
					text.WriteByte('\n')
				}
				text.WriteString(*part.Text)
				continue
			}
			m.ExtraBytes += len(p)
		}
		m.Text = text.String()
		return nil
	default:
		return wrongType(path, "a string or an array of content parts")
	}
}

func parseOptions(top map[string]json.RawMessage, req *ChatRequest) *Error {
	if raw, ok := top["stream"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &req.Stream); err != nil {
			return wrongType("stream", "a boolean")
		}
	}
	if raw, ok := top["stream_options"]; ok && !isNull(raw) {
		var so struct {
			IncludeUsage *json.RawMessage `json:"include_usage"`
		}
		if err := json.Unmarshal(raw, &so); err != nil {
			return wrongType("stream_options", "an object")
		}
		if so.IncludeUsage != nil && !isNull(*so.IncludeUsage) {
			if err := json.Unmarshal(*so.IncludeUsage, &req.IncludeUsage); err != nil {
				return wrongType("stream_options.include_usage", "a boolean")
			}
		}
	}
	for _, name := range []string{"max_tokens", "max_completion_tokens"} {
		raw, ok := top[name]
		if !ok || isNull(raw) {
			continue
		}
		v, e := positiveInt(raw, name)
		if e != nil {
			return e
		}
		if name == "max_completion_tokens" || req.MaxOutputTokens == 0 {
			req.MaxOutputTokens = v
		}
	}
	if raw, ok := top["n"]; ok && !isNull(raw) {
		v, e := positiveInt(raw, "n")
		if e != nil {
			return e
		}
		if v > 128 {
			return InvalidRequest("n", fmt.Sprintf("Invalid 'n': integer above maximum value. Expected a value <= 128, but got %d instead.", v))
		}
		req.N = v
	}
	req.ToolsBytes = len(top["tools"]) + len(top["functions"])
	return nil
}

func positiveInt(raw json.RawMessage, name string) (int64, *Error) {
	var v int64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, wrongType(name, "an integer")
	}
	if v < 1 {
		return 0, InvalidRequest(name, fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", name, v))
	}
	return v, nil
}

func wrongType(param, want string) *Error {
	return InvalidRequest(param, fmt.Sprintf("Invalid type for '%s': expected %s.", param, want))
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
