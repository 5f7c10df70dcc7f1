package mockllm

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		config  Config
		wantErr []string
	}{
		{"zero", Config{}, nil},
		{"full", Config{Words: 3, ErrorStatus: 429, ErrorRate: 0.2, TokensPerChunk: 2, TokenDelay: time.Millisecond}, nil},
		{"everything wrong", Config{Words: -1, TokensPerChunk: -2, TokenDelay: -1, ErrorRate: 1.5, ErrorStatus: 200},
			[]string{"words", "tokens_per_chunk", "delays", "error_rate", "error_status"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.config.Validate()
			if (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
}

func TestSetConfig(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{})
	if err := s.SetConfig(Config{ErrorRate: 2}); err == nil {
		t.Fatal("invalid config accepted")
	}
	if err := s.SetConfig(Config{ReplyText: "fixed answer"}); err != nil {
		t.Fatal(err)
	}
	client := sdkClient(ts)
	resp, err := client.Chat.Completions.New(t.Context(), userParams("m", "anything"))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "fixed answer" {
		t.Errorf("content %q after SetConfig", got)
	}
}

func TestNewIgnoresInvalidConfig(t *testing.T) {
	s := New(Options{Config: Config{Words: -3}})
	if got := s.Config(); got != (Config{}) {
		t.Errorf("config %+v, want the defaults", got)
	}
}

func TestConfigEndpoint(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{Config: Config{Words: 5, OmitUsage: true}})
	post := func(body string) (*http.Response, configJSON) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/mock/config", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got configJSON
		_ = json.NewDecoder(resp.Body).Decode(&got)
		return resp, got
	}
	resp, got := post(`{"ttft_ms": 250, "error_status": 503, "error_rate": 0.25}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := Config{Words: 5, OmitUsage: true, TimeToFirstToken: 250 * time.Millisecond, ErrorStatus: 503, ErrorRate: 0.25}
	if s.Config() != want || got.config() != want {
		t.Errorf("config %+v, answered %+v, want %+v", s.Config(), got.config(), want)
	}
	for _, bad := range []string{`{"error_rate": 3}`, `{"words": "many"}`, `not json`} {
		if resp, _ := post(bad); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, resp.StatusCode)
		}
	}
	if s.Config() != want {
		t.Errorf("a rejected update changed the config to %+v", s.Config())
	}
	get, err := http.Get(ts.URL + "/mock/config")
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	var current configJSON
	if err := json.NewDecoder(get.Body).Decode(&current); err != nil || current.TimeToFirstTokenMS != 250 {
		t.Errorf("GET /mock/config: %+v, %v", current, err)
	}
}
