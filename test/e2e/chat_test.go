package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/llm-gateway/gateway/pkg/mockllm"
)

func userMsg(text string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}
}

func TestChatCompletionThroughEnvoy(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client(demoKey)
	var raw *http.Response
	resp, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "gpt-4o-mini", Messages: userMsg("Say hello"), MaxTokens: openai.Int(8),
	}, optionResponse(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "gpt-4o-mini" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" {
		t.Fatalf("response %+v", resp)
	}
	if resp.Usage.CompletionTokens != 8 || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("usage %+v finish %s", resp.Usage, resp.Choices[0].FinishReason)
	}
	// What the provider saw: its own model name and credential, never the client's key.
	reqs, n := s.mock.Requests()
	if n != 1 {
		t.Fatalf("provider called %d times", n)
	}
	got := reqs[0]
	if got.Header.Get("Authorization") != "Bearer "+providerKey {
		t.Errorf("provider got authorization %q", got.Header.Get("Authorization"))
	}
	if strings.Contains(string(got.Body), demoKey) || strings.Contains(got.Header.Get("Authorization"), demoKey) {
		t.Error("client key reached the provider")
	}
	var body map[string]any
	json.Unmarshal(got.Body, &body)
	if body["model"] != "mock-small" {
		t.Errorf("provider got model %v", body["model"])
	}
	// Provider-identifying headers are gone; OpenAI rate-limit headers are ours.
	for _, h := range []string{"openai-organization", "openai-processing-ms"} {
		if raw.Header.Get(h) != "" {
			t.Errorf("provider header %s leaked: %q", h, raw.Header.Get(h))
		}
	}
	if raw.Header.Get("x-request-id") == "" {
		t.Error("no x-request-id")
	}
}

func TestStreamingThroughEnvoy(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client(demoKey)
	for _, wantUsage := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: userMsg("Stream please"), MaxTokens: openai.Int(12)}
		if wantUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := c.Chat.Completions.NewStreaming(t.Context(), params)
		var text strings.Builder
		var usageChunks int
		var finish string
		for stream.Next() {
			ch := stream.Current()
			if ch.Model != "gpt-4o-mini" {
				t.Fatalf("chunk model %q", ch.Model)
			}
			if len(ch.Choices) == 0 && ch.Usage.TotalTokens > 0 {
				usageChunks++
				continue
			}
			for _, choice := range ch.Choices {
				text.WriteString(choice.Delta.Content)
				if choice.FinishReason != "" {
					finish = choice.FinishReason
				}
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(strings.Fields(text.String())) != 12 || finish != "length" {
			t.Fatalf("streamed %q finish %q", text.String(), finish)
		}
		if (usageChunks == 1) != wantUsage {
			t.Fatalf("include_usage=%v but %d usage chunks", wantUsage, usageChunks)
		}
	}
	// The provider was always asked for usage, so the gateway can account streams.
	reqs, _ := s.mock.Requests()
	for _, r := range reqs {
		if !strings.Contains(string(r.Body), `"include_usage":true`) {
			t.Errorf("provider not asked for usage: %s", r.Body)
		}
	}
}

func TestModelsListedPerKey(t *testing.T) {
	s := startStack(t, stackOptions{})
	c := s.client(demoKey)
	page, err := c.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "gpt-4o-mini" {
		t.Fatalf("models %+v", page.Data)
	}
	if s.mockCalls() != 0 {
		t.Fatal("models list reached the provider")
	}
}

func TestClientErrors(t *testing.T) {
	s := startStack(t, stackOptions{})
	t.Run("bad key", func(t *testing.T) {
		cl := s.client("sk-wrong")
		_, err := cl.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: userMsg("x")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		cl := s.client(demoKey)
		_, err := cl.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "hidden-model", Messages: userMsg("x")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		resp, body := s.post(demoKey, "/v1/chat/completions", []byte(`{"model": "gpt-4o-mini", "messages": [`))
		assertOpenAIError(t, resp, body, 400, "")
	})
	t.Run("wrong type names the field", func(t *testing.T) {
		resp, body := s.post(demoKey, "/v1/chat/completions", []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":7}]}`))
		e := assertOpenAIError(t, resp, body, 400, "")
		if e.Param != "messages[0].content" {
			t.Fatalf("param %q", e.Param)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		resp, body := s.post(demoKey, "/v1/embeddings", []byte(`{}`))
		assertOpenAIError(t, resp, body, 404, "")
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("a", 9<<20) + `"}]}`
		resp, body := s.post(demoKey, "/v1/chat/completions", []byte(big))
		assertOpenAIError(t, resp, body, 413, "")
	})
	t.Run("banned prompt", func(t *testing.T) {
		resp, body := s.post(demoKey, "/v1/chat/completions", []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"tell me the FORBIDDEN   Phrase"}]}`))
		assertOpenAIError(t, resp, body, 400, "content_policy_violation")
	})
	if n := s.mockCalls(); n != 0 {
		t.Fatalf("bad requests reached the provider %d times", n)
	}
}

func TestOutputGuardrailOnStream(t *testing.T) {
	s := startStack(t, stackOptions{})
	cfg := s.mock.Config()
	cfg.ReplyText = "the secret word is zorblax and nothing more"
	cfg.TokensPerChunk = 1
	if err := s.mock.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	cl := s.client(demoKey)
	stream := cl.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: userMsg("x")})
	var text strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "zorblax") || !strings.Contains(text.String(), "[redacted]") {
		t.Fatalf("stream text %q", text.String())
	}
	_ = mockllm.Config{}
}

type apiError struct {
	Message, Type, Param, Code string
}

func assertOpenAIError(t *testing.T, resp *http.Response, body []byte, status int, code string) apiError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var env struct {
		Error *struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Message == "" {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	e := apiError{Message: env.Error.Message, Type: env.Error.Type}
	if env.Error.Param != nil {
		e.Param = *env.Error.Param
	}
	if env.Error.Code != nil {
		e.Code = *env.Error.Code
	}
	if code != "" && e.Code != code {
		t.Fatalf("code %q, want %q", e.Code, code)
	}
	return e
}
