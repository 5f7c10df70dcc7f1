package mockllm

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestRequestsRecorded(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{MaxRecorded: 3})
	for i := range 5 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/v1/chat/completions",
			strings.NewReader(fmt.Sprintf(`{"model":"m%d","messages":[{"role":"user","content":"x"}]}`, i)))
		req.Header.Set("X-Gateway-Test", fmt.Sprint(i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, path := range []string{"/healthz", "/mock/config"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got, count := s.Requests()
	if count != 5 || len(got) != 3 {
		t.Fatalf("count %d, kept %d; want 5 and 3", count, len(got))
	}
	for i, r := range got {
		n := i + 2 // the oldest two fell out of the log
		if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" || r.Header.Get("X-Gateway-Test") != fmt.Sprint(n) ||
			!strings.Contains(string(r.Body), fmt.Sprintf(`"m%d"`, n)) {
			t.Errorf("request %d: %s %s %v %s", i, r.Method, r.Path, r.Header, r.Body)
		}
	}
	s.Reset()
	if got, count := s.Requests(); len(got) != 0 || count != 0 {
		t.Errorf("after Reset: %d kept, count %d", len(got), count)
	}
}

func TestResetEndpoint(t *testing.T) {
	s, ts, _ := newTestServer(t, Options{})
	postChat(t, ts.URL, `{}`)
	resp, err := http.Post(ts.URL+"/mock/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, count := s.Requests(); resp.StatusCode != http.StatusNoContent || count != 0 {
		t.Errorf("status %d, count %d after reset", resp.StatusCode, count)
	}
}
