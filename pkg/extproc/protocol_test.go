package extproc

import (
	"encoding/json"
	"strings"
	"testing"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type openaiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decodeError(t *testing.T, body []byte) openaiError {
	t.Helper()
	var e openaiError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error: %s (%v)", body, err)
	}
	return e
}

func TestAuthenticationHappensFirst(t *testing.T) {
	c := startServer(t, testConfig(t))
	tests := []struct {
		name    string
		headers []string
		code    string
	}{
		{"no key", []string{":method", "POST", ":path", "/v1/chat/completions"}, "invalid_api_key"},
		{"wrong bearer", []string{":method", "POST", ":path", "/v1/chat/completions", "authorization", "Bearer nope"}, "invalid_api_key"},
		{"wrong x-api-key", []string{":method", "GET", ":path", "/v1/models", "x-api-key", "nope"}, "invalid_api_key"},
		{"unknown path still needs a key", []string{":method", "GET", ":path", "/admin"}, "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStream(t, c)
			defer s.close()
			resp := s.send(reqHeaders(false, tt.headers...))
			ir := resp.GetImmediateResponse()
			if ir == nil || ir.GetStatus().GetCode() != 401 {
				t.Fatalf("want immediate 401, got %v", resp)
			}
			if e := decodeError(t, ir.GetBody()); e.Error.Code == nil || *e.Error.Code != tt.code {
				t.Fatalf("code = %v, want %s", e.Error.Code, tt.code)
			}
			if setHeaders(ir.GetHeaders())["content-type"] != "application/json" {
				t.Fatalf("content-type not json: %v", ir.GetHeaders())
			}
		})
	}
}

func TestModelsListsOnlyAllowedModels(t *testing.T) {
	c := startServer(t, testConfig(t))
	for _, tt := range []struct {
		key  string
		want []string
	}{{testKey, []string{"gpt-test"}}, {testKeyOther, []string{"gpt-test", "other-model"}}} {
		s := openStream(t, c)
		resp := s.send(reqHeaders(true, ":method", "GET", ":path", "/v1/models", "x-api-key", tt.key))
		s.close()
		ir := resp.GetImmediateResponse()
		if ir.GetStatus().GetCode() != 200 {
			t.Fatalf("status %v", resp)
		}
		var list struct {
			Object string `json:"object"`
			Data   []struct{ ID, Object string }
		}
		if err := json.Unmarshal(ir.GetBody(), &list); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range list.Data {
			got = append(got, m.ID)
		}
		if list.Object != "list" || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Fatalf("models = %s %v, want %v", list.Object, got, tt.want)
		}
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	c := startServer(t, testConfig(t))
	for _, tt := range []struct {
		method, path string
		status       uint32
	}{
		{"GET", "/v1/chat/completions", 405},
		{"POST", "/v1/embeddings", 404},
		{"DELETE", "/v1/models", 405},
		{"GET", "/v1/models/other-model", 404}, // exists, but alpha may not use it
	} {
		s := openStream(t, c)
		resp := s.send(reqHeaders(true, ":method", tt.method, ":path", tt.path, "authorization", "Bearer "+testKey))
		s.close()
		if got := resp.GetImmediateResponse().GetStatus().GetCode(); uint32(got) != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, got, tt.status)
		}
		decodeError(t, resp.GetImmediateResponse().GetBody())
	}
}

func TestChatRequestIsRoutedAndRewritten(t *testing.T) {
	c := startServer(t, testConfig(t))
	s := openStream(t, c)
	defer s.close()
	resp := s.send(chatHeaders(testKey,
		"x-gateway-cluster", "evil", "x-envoy-fault-abort-request", "500", "x-gateway-pin", "primary", "x-api-key", "leak"))
	hr := resp.GetRequestHeaders()
	if hr == nil {
		t.Fatalf("want request headers response, got %v", resp)
	}
	removed := hr.GetResponse().GetHeaderMutation().GetRemoveHeaders()
	for _, h := range []string{"authorization", "x-api-key", "x-gateway-cluster", "x-envoy-fault-abort-request", "x-gateway-pin"} {
		if !contains(removed, h) {
			t.Errorf("client header %s not removed (removed %v)", h, removed)
		}
	}

	body := `{"model":"gpt-test","messages":[{"role":"user","content":"hi"}],"temperature":0.2}`
	resp = s.send(reqBody(body))
	br := resp.GetRequestBody().GetResponse()
	if br == nil {
		t.Fatalf("want request body response, got %v", resp)
	}
	if !br.GetClearRouteCache() {
		t.Error("clear_route_cache not set")
	}
	set := setHeaders(br.GetHeaderMutation())
	newBody := br.GetBodyMutation().GetBody()
	want := map[string]string{
		"x-gateway-cluster":              "cluster_primary",
		"authorization":                  "Bearer " + providerKey,
		"x-envoy-upstream-rq-timeout-ms": "7000",
		"x-envoy-max-retries":            "2",
		"content-length":                 itoa(len(newBody)),
	}
	for k, v := range want {
		if set[k] != v {
			t.Errorf("header %s = %q, want %q", k, set[k], v)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(newBody, &got); err != nil {
		t.Fatal(err)
	}
	if got["model"] != "upstream-model" || got["temperature"] != 0.2 {
		t.Errorf("rewritten body = %s", newBody)
	}

	resp = s.send(respHeaders(false, ":status", "200", "content-type", "application/json", "openai-organization", "org-x",
		"server", "uvicorn", "set-cookie", "a=1", "set-cookie", "b=2", "x-trace", "keep"))
	rh := resp.GetResponseHeaders().GetResponse()
	removedHeaders := rh.GetHeaderMutation().GetRemoveHeaders()
	for _, h := range []string{"openai-organization", "server", "set-cookie"} {
		if !contains(removedHeaders, h) {
			t.Errorf("provider header %s not removed", h)
		}
	}
	if len(removedHeaders) != 3 {
		t.Errorf("removed %v, want each provider header once and nothing else", removedHeaders)
	}
	resp = s.send(respBody(`{"id":"x","object":"chat.completion","model":"upstream-model","choices":[]}`, true))
	rb := resp.GetResponseBody().GetResponse()
	out := rb.GetBodyMutation().GetBody()
	if !strings.Contains(string(out), `"model":"gpt-test"`) || setHeaders(rb.GetHeaderMutation())["content-length"] != itoa(len(out)) {
		t.Errorf("response body = %s headers %v", out, setHeaders(rb.GetHeaderMutation()))
	}
}

func TestBadRequestsGetOpenAIErrors(t *testing.T) {
	c := startServer(t, testConfig(t))
	tests := []struct {
		name, body string
		status     uint32
		param      string
		code       string
	}{
		{"malformed json", `{"model":`, 400, "", ""},
		{"missing model", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model", ""},
		{"model wrong type", `{"model":3,"messages":[{"role":"user","content":"x"}]}`, 400, "model", ""},
		{"missing messages", `{"model":"gpt-test"}`, 400, "messages", ""},
		{"messages wrong type", `{"model":"gpt-test","messages":"hi"}`, 400, "messages", ""},
		{"bad role", `{"model":"gpt-test","messages":[{"role":"robot","content":"x"}]}`, 400, "messages[0].role", ""},
		{"content wrong type", `{"model":"gpt-test","messages":[{"role":"user","content":5}]}`, 400, "messages[0].content", ""},
		{"max_tokens wrong", `{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"max_tokens":"many"}`, 400, "max_tokens", ""},
		{"stream wrong type", `{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, 400, "stream", ""},
		{"model not allowed", `{"model":"other-model","messages":[{"role":"user","content":"x"}]}`, 404, "model", "model_not_found"},
		{"unknown model", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "model", "model_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStream(t, c)
			defer s.close()
			s.send(chatHeaders(testKey))
			resp := s.send(reqBody(tt.body))
			ir := resp.GetImmediateResponse()
			if uint32(ir.GetStatus().GetCode()) != tt.status {
				t.Fatalf("status = %v, want %d", resp, tt.status)
			}
			e := decodeError(t, ir.GetBody())
			if (e.Error.Param == nil && tt.param != "") || (e.Error.Param != nil && *e.Error.Param != tt.param) {
				t.Errorf("param = %v, want %q", e.Error.Param, tt.param)
			}
			if tt.code != "" && (e.Error.Code == nil || *e.Error.Code != tt.code) {
				t.Errorf("code = %v, want %q", e.Error.Code, tt.code)
			}
		})
	}
}

func TestStreamingResponseSwitchesToStreamedMode(t *testing.T) {
	c := startServer(t, testConfig(t))
	s := openStream(t, c)
	defer s.close()
	s.send(chatHeaders(testKey))
	resp := s.send(reqBody(`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	var got map[string]any
	json.Unmarshal(resp.GetRequestBody().GetResponse().GetBodyMutation().GetBody(), &got)
	if so, _ := got["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Fatalf("include_usage not requested from provider: %v", got)
	}
	resp = s.send(respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
	mo := resp.GetModeOverride()
	if mo.GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED {
		t.Fatalf("mode override = %v", mo)
	}
}

func TestUpstreamErrorsBecomeOpenAIErrors(t *testing.T) {
	c := startServer(t, testConfig(t))
	tests := []struct {
		status     string
		wantStatus string
		code       string
	}{
		{"503", "", "provider_unavailable"},
		{"504", "", "upstream_timeout"},
		{"500", "", "provider_error"},
		{"401", "502", "provider_auth_error"},
		{"429", "", "rate_limit_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			s := openStream(t, c)
			defer s.close()
			s.send(chatHeaders(testKey))
			s.send(reqBody(`{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`))
			resp := s.send(respHeaders(false, ":status", tt.status, "content-type", "text/plain", "server", "envoy"))
			cr := resp.GetResponseHeaders().GetResponse()
			if cr.GetStatus() != extprocv3.CommonResponse_CONTINUE_AND_REPLACE {
				t.Fatalf("want CONTINUE_AND_REPLACE, got %v", resp)
			}
			e := decodeError(t, cr.GetBodyMutation().GetBody())
			if e.Error.Code == nil || *e.Error.Code != tt.code {
				t.Errorf("code %v, want %s", e.Error.Code, tt.code)
			}
			if got := setHeaders(cr.GetHeaderMutation())[":status"]; got != tt.wantStatus {
				t.Errorf(":status set to %q, want %q", got, tt.wantStatus)
			}
		})
	}
}

func TestProviderClientErrorKeepsOnlyOpenAIFields(t *testing.T) {
	c := startServer(t, testConfig(t))
	s := openStream(t, c)
	defer s.close()
	s.send(chatHeaders(testKey))
	s.send(reqBody(`{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`))
	s.send(respHeaders(false, ":status", "400", "content-type", "application/json"))
	resp := s.send(respBody(`{"error":{"message":"temperature too high","type":"invalid_request_error","param":"temperature","code":null,"internal_trace":"host-17"}}`, true))
	out := resp.GetResponseBody().GetResponse().GetBodyMutation().GetBody()
	if strings.Contains(string(out), "host-17") || !strings.Contains(string(out), "temperature too high") {
		t.Fatalf("body = %s", out)
	}
}

// Of a repeated header the last counts, as with any map of headers, and a
// stripped header is removed once, however often the client sent it.
func TestRepeatedRequestHeaders(t *testing.T) {
	c := startServer(t, testConfig(t))

	s := openStream(t, c)
	resp := s.send(chatHeaders("sk-not-a-key", "authorization", "Bearer "+testKey,
		"x-envoy-retry-on", "5xx", "x-envoy-retry-on", "reset"))
	s.close()
	hr := resp.GetRequestHeaders()
	if hr == nil {
		t.Fatalf("the last authorization header (a valid key) was not the one read: %v", resp)
	}
	removed := hr.GetResponse().GetHeaderMutation().GetRemoveHeaders()
	for _, h := range []string{"authorization", "x-envoy-retry-on"} {
		n := 0
		for _, r := range removed {
			if r == h {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s removed %d times (%v)", h, n, removed)
		}
	}

	s = openStream(t, c)
	resp = s.send(chatHeaders(testKey, "authorization", "Bearer sk-not-a-key"))
	s.close()
	if got := resp.GetImmediateResponse().GetStatus().GetCode(); got != 401 {
		t.Errorf("a bad last authorization header: status %d, want 401", got)
	}
}
