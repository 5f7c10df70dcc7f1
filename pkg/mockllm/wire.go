package mockllm

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// The response shapes of OpenAI's chat completion API, as far as the mock fills
// them.

type completion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []choice `json:"choices"`
	Usage             *usage   `json:"usage,omitempty"`
}

type choice struct {
	Index        int       `json:"index"`
	Message      message   `json:"message"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type message struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chunk is one chat.completion.chunk event. Usage is a pointer to a pointer so
// that it can be absent (no include_usage), null (include_usage, any chunk
// but the last) or set (the last chunk).
type chunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []chunkChoice `json:"choices"`
	Usage             **usage       `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int       `json:"index"`
	Delta        delta     `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// systemFingerprint is constant: the mock's "model build" never changes.
const systemFingerprint = "fp_mockllm"

// apiError is the body of OpenAI's error responses, inside {"error": ...}.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func invalidRequest(msg, param string) apiError {
	e := apiError{Message: msg, Type: "invalid_request_error"}
	if param != "" {
		e.Param = &param
	}
	return e
}

func methodNotAllowed(r *http.Request) apiError {
	return invalidRequest(fmt.Sprintf("Method %s not allowed for %s", r.Method, r.URL.Path), "")
}

// injectedError is the error OpenAI answers with for status.
func injectedError(status int) apiError {
	code := func(s string) *string { return &s }
	switch {
	case status == http.StatusTooManyRequests:
		return apiError{Message: "Rate limit reached for requests (injected by mock-llm).", Type: "requests", Code: code("rate_limit_exceeded")}
	case status == http.StatusServiceUnavailable:
		return apiError{Message: "The engine is currently overloaded, please try again later (injected by mock-llm).", Type: "server_error"}
	case status >= 500:
		return apiError{Message: "The server had an error while processing your request (injected by mock-llm).", Type: "server_error"}
	}
	return invalidRequest(fmt.Sprintf("Injected error %d (mock-llm).", status), "")
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, struct {
		Error apiError `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the mock's own types get here; they always marshal.
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
