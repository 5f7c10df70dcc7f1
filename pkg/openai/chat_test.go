package openai

import (
	"encoding/json"
	"testing"
)

func TestParseChatRequest(t *testing.T) {
	body := `{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":10,"max_completion_tokens":20,"n":2,
	"messages":[{"role":"system","content":"be brief"},{"role":"user","name":"bob","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"http://x"}},{"type":"text","text":"b"}]},
	{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]}],
	"tools":[{"type":"function","function":{"name":"f"}}]}`
	r, err := ParseChatRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "m" || !r.Stream || !r.IncludeUsage || r.MaxOutputTokens != 20 || r.N != 2 || len(r.Messages) != 3 {
		t.Fatalf("parsed %+v", r)
	}
	if r.Messages[1].Text != "a\nb" || r.Messages[1].Name != "bob" || r.Messages[1].ExtraBytes == 0 || r.Messages[2].ExtraBytes == 0 || r.ToolsBytes == 0 {
		t.Fatalf("messages %+v tools %d", r.Messages, r.ToolsBytes)
	}
}

func TestParseChatRequestErrors(t *testing.T) {
	tests := []struct{ body, param string }{
		{``, ""},
		{`[]`, ""},
		{`{"model":"m","messages":[]}`, "messages"},
		{`{"model":"","messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content"},
		{`{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0].text"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}`, "n"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"n":1000}`, "n"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-1}`, "max_completion_tokens"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":"y"}}`, "stream_options.include_usage"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, "max_tokens"},
		// Duplicate keys: parsers disagree on which wins, so they are refused.
		{`{"model":"allowed","model":"other","messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"m","messages":[{"role":"user","content":"clean","content":"banned"}]}`, "messages[0].content"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}`, "messages[0].content[0].text"},
	}
	for _, tt := range tests {
		_, e := ParseChatRequest([]byte(tt.body))
		if e == nil || e.Param != tt.param || e.Status != 400 {
			t.Errorf("%s: got %+v, want param %q", tt.body, e, tt.param)
		}
	}
}

func TestRewriteKeepsUnknownFields(t *testing.T) {
	body := []byte(`{"model":"client","stream":true,"messages":[{"role":"user","content":"x"}],"logit_bias":{"5":1},"seed":7}`)
	r, _ := ParseChatRequest(body)
	out, err := RewriteChatRequest(body, r, "provider")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m["model"] != "provider" || m["seed"] != float64(7) || m["logit_bias"] == nil || m["stream_options"].(map[string]any)["include_usage"] != true {
		t.Fatalf("rewritten: %s", out)
	}
}

func TestErrorBodyShape(t *testing.T) {
	var m map[string]map[string]any
	if err := json.Unmarshal(InvalidAPIKey("bad").Body(), &m); err != nil {
		t.Fatal(err)
	}
	e := m["error"]
	if _, ok := e["param"]; !ok || e["param"] != nil || e["code"] != "invalid_api_key" || e["type"] != TypeInvalidRequest {
		t.Fatalf("error body %v", m)
	}
}

// FuzzParseChatRequest: client bytes never crash the parser, and an accepted
// request can always be rewritten into valid JSON.
func FuzzParseChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"max_tokens":3}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, e := ParseChatRequest(body)
		if e != nil {
			if e.Status != 400 || e.Message == "" {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		out, err := RewriteChatRequest(body, r, "provider-model")
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("rewrite produced invalid JSON from %q: %q", body, out)
		}
	})
}
