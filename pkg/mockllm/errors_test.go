package mockllm

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/openai/openai-go/v3"
)

type errorBody struct {
	Error struct {
		Message *string `json:"message"`
		Type    *string `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// decodeError checks the OpenAI error shape: all four keys present, message and
// type strings.
func decodeError(t *testing.T, resp *http.Response) errorBody {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var keys struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := keys.Error[k]; !ok {
			t.Errorf("error body %s lacks %q", raw, k)
		}
	}
	var e errorBody
	_ = json.Unmarshal(raw, &e)
	if e.Error.Message == nil || *e.Error.Message == "" || e.Error.Type == nil {
		t.Errorf("error body %s: empty message or type", raw)
	}
	return e
}

func TestBadRequests(t *testing.T) {
	cases := []struct {
		name, body, param string
	}{
		{"not json", `{"model":`, ""},
		{"empty body", ``, ""},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"model not a string", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"no messages", `{"model":"m"}`, "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages"},
		{"no role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":7}]}`, "messages[0].content"},
		{"n zero", `{"model":"m","n":0,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"n too large", `{"model":"m","n":129,"messages":[{"role":"user","content":"x"}]}`, "n"},
		{"max_tokens zero", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"stream_options without stream", `{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "stream_options"},
	}
	_, ts, _ := newTestServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := postChat(t, ts.URL, tc.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			e := decodeError(t, resp)
			if *e.Error.Type != "invalid_request_error" {
				t.Errorf("type %q", *e.Error.Type)
			}
			got := ""
			if e.Error.Param != nil {
				got = *e.Error.Param
			}
			if got != tc.param {
				t.Errorf("param %q, want %q", got, tc.param)
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	cases := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v1/completions", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusNotFound},
		{http.MethodGet, "/v1/chat/completions", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/models", http.StatusMethodNotAllowed},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodGet, "/mock/reset", http.StatusMethodNotAllowed},
	}
	_, ts, _ := newTestServer(t, Options{})
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, ts.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			decodeError(t, resp)
		})
	}
}

func TestInjectedErrors(t *testing.T) {
	cases := []struct {
		status     int
		wantType   string
		retryAfter string
	}{
		{http.StatusTooManyRequests, "requests", "1"},
		{http.StatusInternalServerError, "server_error", ""},
		{http.StatusServiceUnavailable, "server_error", "1"},
		{http.StatusBadRequest, "invalid_request_error", ""},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			_, ts, _ := newTestServer(t, Options{Config: Config{ErrorStatus: tc.status, ErrorRate: 1}})
			client := sdkClient(ts)
			_, err := client.Chat.Completions.New(t.Context(), userParams("m", "hi"))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err %v, want an *openai.Error", err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Type != tc.wantType {
				t.Errorf("status %d type %q, want %d %q", apiErr.StatusCode, apiErr.Type, tc.status, tc.wantType)
			}
			if got := apiErr.Response.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}

// TestErrorRate draws from a scripted source: requests fail exactly when the
// draw is below the rate.
func TestErrorRate(t *testing.T) {
	draws := []float64{0.1, 0.9, 0.49, 0.5, 0.0}
	next := 0
	float64 := func() float64 { next++; return draws[next-1] }
	_, ts, _ := newTestServer(t, Options{Config: Config{ErrorStatus: 503, ErrorRate: 0.5}, Float64: float64})
	var got []int
	for range draws {
		resp := postChat(t, ts.URL, `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
		got = append(got, resp.StatusCode)
	}
	if want := []int{503, 200, 503, 200, 503}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}
