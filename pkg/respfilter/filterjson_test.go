package respfilter

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"

	"github.com/llm-gateway/gateway/pkg/guardrail"
)

func completion(content string, withUsage bool) string {
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"` + providerModel + `",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":` + string(jsonString(content)) + `,"refusal":null,"annotations":[]},` +
		`"logprobs":null,"finish_reason":"stop"}],"service_tier":"default","system_fingerprint":"fp_1"`
	if withUsage {
		body += `,"usage":` + usageJSON
	}
	return body + "}"
}

func TestFilterJSON(t *testing.T) {
	banned := []string{"bad", "forbidden phrase"}
	tests := []struct {
		name          string
		body          string
		guard         *guardrail.Options
		wantContent   string
		wantFinish    string
		wantChanged   bool
		wantUsage     Usage
		providerUsage bool
		wantOutcome   Outcome
	}{
		{name: "model rewrite and usage", body: completion("Hello there", true),
			wantContent: "Hello there", wantFinish: "stop", wantChanged: true, wantUsage: wantUsage, providerUsage: true},
		{name: "counted usage without provider usage", body: completion("Hello there friend", false),
			wantContent: "Hello there friend", wantFinish: "stop", wantChanged: true, wantUsage: Usage{CompletionTokens: 3}},
		{name: "redact", body: completion("A bad and a forbidden\n phrase.", true), guard: &guardrail.Options{Banned: banned},
			wantContent: "A [redacted] and a [redacted].", wantFinish: "stop", wantChanged: true, wantUsage: wantUsage,
			providerUsage: true, wantOutcome: Outcome{Redactions: 2}},
		{name: "stop", body: completion("Fine, then bad things.", true), guard: &guardrail.Options{Banned: banned, Action: guardrail.ActionStop},
			wantContent: "Fine, then ", wantFinish: "content_filter", wantChanged: true, wantUsage: wantUsage,
			providerUsage: true, wantOutcome: Outcome{ContentFiltered: true, Violation: guardrail.Violation{Rule: 0, Message: -1}}},
		{name: "length cap", body: completion("héllo wörld", true), guard: &guardrail.Options{MaxChars: 7},
			wantContent: "héllo w", wantFinish: "length", wantChanged: true, wantUsage: wantUsage,
			providerUsage: true, wantOutcome: Outcome{Truncated: true}},
		{name: "token cap", body: completion("one two three four", false), guard: &guardrail.Options{MaxTokens: 2, CountTokens: countTokens},
			wantContent: "one two", wantFinish: "length", wantChanged: true, wantUsage: Usage{CompletionTokens: 4},
			wantOutcome: Outcome{Truncated: true}},
		{name: "clean under guardrails", body: completion("all good", true), guard: &guardrail.Options{Banned: banned},
			wantContent: "all good", wantFinish: "stop", wantChanged: true, wantUsage: wantUsage, providerUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{ClientModel: clientModel, CountTokens: countTokens}
			if tt.guard != nil {
				opts.Policy = policy(t, *tt.guard)
			}
			res, err := FilterJSON([]byte(tt.body), opts)
			if err != nil {
				t.Fatal(err)
			}
			var cc openai.ChatCompletion
			if err := json.Unmarshal(res.Body, &cc); err != nil {
				t.Fatalf("SDK cannot decode %s: %v", res.Body, err)
			}
			if cc.Model != clientModel || cc.Choices[0].Message.Content != tt.wantContent || cc.Choices[0].FinishReason != tt.wantFinish {
				t.Errorf("model %q content %q finish %q", cc.Model, cc.Choices[0].Message.Content, cc.Choices[0].FinishReason)
			}
			if cc.ServiceTier != "default" || cc.SystemFingerprint != "fp_1" || cc.Choices[0].Message.Role != "assistant" {
				t.Errorf("other fields lost: %s", res.Body)
			}
			if res.Changed != tt.wantChanged || res.Usage != tt.wantUsage || res.ProviderUsage != tt.providerUsage {
				t.Errorf("changed %v usage %+v provider %v", res.Changed, res.Usage, res.ProviderUsage)
			}
			if diff := cmp.Diff(tt.wantOutcome, res.Outcome); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterJSONPassThrough(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr error
	}{
		{"openai error body", `{"error":{"message":"Rate limit","type":"requests","code":"rate_limit_exceeded"}}`, nil},
		{"json array", `[1,2]`, nil},
		{"not json", `upstream connect error`, ErrInvalidJSON},
		{"empty", ``, ErrInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := FilterJSON([]byte(tt.body), Options{ClientModel: clientModel, Policy: policy(t, guardrail.Options{Banned: []string{"rate"}})})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if string(res.Body) != tt.body || res.Changed || res.ProviderUsage || res.Usage != (Usage{}) {
				t.Errorf("got %+v", res)
			}
		})
	}
}

func TestFilterJSONDuplicateKeys(t *testing.T) {
	body := `{"model":"leak","model":"` + providerModel + `","choices":[{"index":0,"message":{"content":"bad"}}],` +
		`"choices":[{"index":0,"message":{"content":"bad","content":"so bad"},"finish_reason":"stop"}]}`
	res, err := FilterJSON([]byte(body), Options{ClientModel: clientModel, Policy: policy(t, guardrail.Options{Banned: []string{"bad"}})})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"my-model","model":"my-model","choices":[],` +
		`"choices":[{"index":0,"message":{"content":"","content":"so [redacted]"},"finish_reason":"stop"}]}`
	if string(res.Body) != want {
		t.Errorf("got  %s\nwant %s", res.Body, want)
	}
}

func TestFilterJSONUnchangedWhenModelMatches(t *testing.T) {
	body := `{"object":"chat.completion","model":"my-model","choices":[]}`
	res, err := FilterJSON([]byte(body), Options{ClientModel: clientModel})
	if err != nil || res.Changed || string(res.Body) != body {
		t.Errorf("got %+v, %v", res, err)
	}
}
