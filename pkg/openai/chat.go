package openai

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
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
//
// The body is validated once, then walked with gjson without re-validating each
// nested value (encoding/json re-scans every RawMessage it decodes, which made
// parsing the hot path's largest cost). Objects the gateway inspects must not
// repeat a key: parsers disagree on which duplicate wins, and a client could
// otherwise show the gateway one model or prompt and the provider another.
func ParseChatRequest(body []byte) (*ChatRequest, *Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, InvalidRequest("", "We could not parse the JSON body of your request: the body is empty. Expected a JSON object.")
	}
	if !gjson.ValidBytes(body) {
		return nil, InvalidRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, InvalidRequest("", "We could not parse the JSON body of your request: expected a JSON object.")
	}
	top, e := fields(root, "", "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n", "tools", "functions")
	if e != nil {
		return nil, e
	}
	req := &ChatRequest{N: 1}
	if e := parseModel(top[0], req); e != nil {
		return nil, e
	}
	if e := parseMessages(top[1], req); e != nil {
		return nil, e
	}
	if e := parseOptions(top, req); e != nil {
		return nil, e
	}
	return req, nil
}

// fields returns the values of the named keys of obj (zero Results when absent)
// and rejects any repeated key.
func fields(obj gjson.Result, path string, names ...string) ([]gjson.Result, *Error) {
	out := make([]gjson.Result, len(names))
	var seen [16]bool
	var dup string
	var count int
	obj.ForEach(func(k, v gjson.Result) bool {
		count++
		for i, n := range names {
			if k.Str == n {
				if seen[i] {
					dup = n
					return false
				}
				seen[i] = true
				out[i] = v
			}
		}
		return true
	})
	if dup != "" {
		return nil, InvalidRequest(join(path, dup), "Duplicate key '"+join(path, dup)+"' in the JSON body.")
	}
	return out, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func present(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

func parseModel(v gjson.Result, req *ChatRequest) *Error {
	if !present(v) {
		return InvalidRequest("model", "you must provide a model parameter")
	}
	if v.Type != gjson.String {
		return wrongType("model", "a string")
	}
	if req.Model = v.Str; req.Model == "" {
		return InvalidRequest("model", "you must provide a model parameter")
	}
	return nil
}

func parseMessages(v gjson.Result, req *ChatRequest) *Error {
	if !present(v) {
		return InvalidRequest("messages", "Missing required parameter: 'messages'.")
	}
	if !v.IsArray() {
		return wrongType("messages", "an array")
	}
	var err *Error
	i := 0
	v.ForEach(func(_, item gjson.Result) bool {
		var m Message
		m, err = parseMessage(item, "messages["+strconv.Itoa(i)+"]")
		if err != nil {
			return false
		}
		req.Messages = append(req.Messages, m)
		i++
		return true
	})
	if err != nil {
		return err
	}
	if len(req.Messages) == 0 {
		return InvalidRequest("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	return nil
}

func parseMessage(item gjson.Result, path string) (Message, *Error) {
	var m Message
	if !item.IsObject() {
		return m, wrongType(path, "an object")
	}
	f, e := fields(item, path, "role", "name", "content", "tool_calls", "function_call")
	if e != nil {
		return m, e
	}
	role, name, content := f[0], f[1], f[2]
	if !present(role) {
		return m, InvalidRequest(path+".role", "Missing required parameter: '"+path+".role'.")
	}
	if role.Type != gjson.String {
		return m, wrongType(path+".role", "a string")
	}
	m.Role = role.Str
	if !validRoles[m.Role] {
		return m, InvalidRequest(path+".role", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", m.Role))
	}
	if present(name) {
		if name.Type != gjson.String {
			return m, wrongType(path+".name", "a string")
		}
		m.Name = name.Str
	}
	if e := parseContent(content, path+".content", &m); e != nil {
		return m, e
	}
	m.ExtraBytes += len(f[3].Raw) + len(f[4].Raw)
	if m.Role != "assistant" && !present(content) {
		return m, InvalidRequest(path+".content", "Missing required parameter: '"+path+".content'.")
	}
	return m, nil
}

func parseContent(v gjson.Result, path string, m *Message) *Error {
	switch {
	case !present(v):
		return nil
	case v.Type == gjson.String:
		m.Text = v.Str
		return nil
	case !v.IsArray():
		return wrongType(path, "a string or an array of content parts")
	}
	var text strings.Builder
	var err *Error
	i := 0
	v.ForEach(func(_, p gjson.Result) bool {
		pp := path + "[" + strconv.Itoa(i) + "]"
		i++
		if !p.IsObject() {
			err = wrongType(pp, "an object")
			return false
		}
		f, e := fields(p, pp, "type", "text")
		if e != nil {
			err = e
			return false
		}
		if f[0].Type != gjson.String || f[0].Str == "" {
			err = InvalidRequest(pp+".type", "Missing required parameter: '"+pp+".type'.")
			return false
		}
		if f[0].Str != "text" {
			m.ExtraBytes += len(p.Raw)
			return true
		}
		if f[1].Type != gjson.String {
			err = InvalidRequest(pp+".text", "Missing required parameter: '"+pp+".text'.")
			return false
		}
		if text.Len() > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(f[1].Str)
		return true
	})
	m.Text = text.String()
	return err
}

// parseOptions reads the options at top[2:] (see ParseChatRequest's field list).
func parseOptions(top []gjson.Result, req *ChatRequest) *Error {
	if v := top[2]; present(v) {
		if v.Type != gjson.True && v.Type != gjson.False {
			return wrongType("stream", "a boolean")
		}
		req.Stream = v.Bool()
	}
	if v := top[3]; present(v) {
		if !v.IsObject() {
			return wrongType("stream_options", "an object")
		}
		f, e := fields(v, "stream_options", "include_usage")
		if e != nil {
			return e
		}
		if iu := f[0]; present(iu) {
			if iu.Type != gjson.True && iu.Type != gjson.False {
				return wrongType("stream_options.include_usage", "a boolean")
			}
			req.IncludeUsage = iu.Bool()
		}
	}
	for i, name := range []string{"max_tokens", "max_completion_tokens"} {
		v := top[4+i]
		if !present(v) {
			continue
		}
		n, e := positiveInt(v, name)
		if e != nil {
			return e
		}
		if name == "max_completion_tokens" || req.MaxOutputTokens == 0 {
			req.MaxOutputTokens = n
		}
	}
	if v := top[6]; present(v) {
		n, e := positiveInt(v, "n")
		if e != nil {
			return e
		}
		if n > 128 {
			return InvalidRequest("n", fmt.Sprintf("Invalid 'n': integer above maximum value. Expected a value <= 128, but got %d instead.", n))
		}
		req.N = n
	}
	req.ToolsBytes = len(top[7].Raw) + len(top[8].Raw)
	return nil
}

func positiveInt(v gjson.Result, name string) (int64, *Error) {
	if v.Type != gjson.Number {
		return 0, wrongType(name, "an integer")
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	if err != nil {
		return 0, wrongType(name, "an integer")
	}
	if n < 1 {
		return 0, InvalidRequest(name, fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", name, n))
	}
	return n, nil
}

func wrongType(param, want string) *Error {
	return InvalidRequest(param, fmt.Sprintf("Invalid type for '%s': expected %s.", param, want))
}
