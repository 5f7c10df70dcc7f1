package mockllm

import "testing"

// FuzzParseChatRequest feeds arbitrary bodies to the request parser: it must
// either reject them or return a request the handlers can use.
func FuzzParseChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"n":2,"max_tokens":3,
		  "messages":[{"role":"system","content":null},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}]}`,
		`{"model":"m","max_completion_tokens":1,"messages":[{"role":"assistant"}]}`,
		`{"model":5}`, `[]`, `null`, ``, `{"messages":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := parseChatRequest(body)
		if (req == nil) == (e == nil) {
			t.Fatalf("request %v and error %v", req, e)
		}
		if e != nil {
			if e.Message == "" || e.Type == "" {
				t.Fatalf("empty error %+v", e)
			}
			return
		}
		if req.Model == "" || len(req.Messages) == 0 || req.N < 1 || req.N > 128 || req.MaxTokens < 0 {
			t.Fatalf("accepted an invalid request %+v", req)
		}
		rs := replies(Config{}, req)
		if len(rs) != req.N {
			t.Fatalf("%d replies for n=%d", len(rs), req.N)
		}
		_ = usageOf(req, rs)
	})
}
