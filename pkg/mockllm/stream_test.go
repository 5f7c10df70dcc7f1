package mockllm

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func postChat(t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readEvents returns the data of every SSE event of body.
func readEvents(t *testing.T, resp *http.Response) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			events = append(events, strings.TrimPrefix(line, "data: "))
		case line != "":
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func TestStreamWireShape(t *testing.T) {
	_, ts, _ := newTestServer(t, Options{Config: Config{ReplyText: "one two three"}})
	resp := postChat(t, ts.URL, `{"model":"m","stream":true,"stream_options":{"include_usage":true},
		"messages":[{"role":"user","content":"a b"}]}`)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q", ct)
	}
	events := readEvents(t, resp)
	want := []string{
		`{"role":"assistant","content":""}|null|null`,
		`{"content":"one"}|null|null`,
		`{"content":" two"}|null|null`,
		`{"content":" three"}|null|null`,
		`{}|"stop"|null`,
		`-|-|{"prompt_tokens":2,"completion_tokens":3,"total_tokens":5}`,
	}
	if len(events) != len(want)+1 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("events %q", events)
	}
	for i, w := range want {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta        json.RawMessage `json:"delta"`
				FinishReason json.RawMessage `json:"finish_reason"`
			} `json:"choices"`
			Usage json.RawMessage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(events[i]), &c); err != nil {
			t.Fatal(err)
		}
		got := "-|-|" + string(c.Usage)
		if len(c.Choices) == 1 {
			got = string(c.Choices[0].Delta) + "|" + string(c.Choices[0].FinishReason) + "|" + string(c.Usage)
		}
		if got != w || c.Object != "chat.completion.chunk" {
			t.Errorf("event %d: %s (object %q), want %s", i, got, c.Object, w)
		}
	}
}

// TestStreamFlushesEachEvent holds the server in its second token delay and
// expects the headers and the events before it to have reached the client.
func TestStreamFlushesEachEvent(t *testing.T) {
	release := make(chan struct{})
	calls := 0
	sleep := func(ctx context.Context, d time.Duration) error {
		calls++
		if calls == 2 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	_, ts, _ := newTestServer(t, Options{Config: Config{Words: 5, TokenDelay: time.Millisecond}, Sleep: sleep})
	ctx, cancel := context.WithCancel(t.Context())
	// Registered after the server's cleanup, so they run first and the server
	// can close even when the test fails.
	t.Cleanup(func() { close(release) })
	t.Cleanup(cancel)
	got := make(chan int, 1)
	go func() { got <- eventsBeforeBlock(ctx, ts.URL) }()
	select {
	case n := <-got:
		if n != 2 { // the role chunk and the first content chunk
			t.Fatalf("read %d events before the stream ended", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("what was written before the delay never arrived: not flushed")
	}
}

// eventsBeforeBlock starts a stream and counts events until it has two, or the
// stream or ctx ends.
func eventsBeforeBlock(ctx context.Context, url string) int {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	seen := 0
	for seen < 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "data: ") {
			seen++
		}
	}
	return seen
}

func TestDelays(t *testing.T) {
	cases := []struct {
		name   string
		config Config
		body   string
		want   []time.Duration
	}{
		{"json: ttft plus inter-token delays", Config{Words: 4, TimeToFirstToken: 100 * time.Millisecond, TokenDelay: 10 * time.Millisecond},
			`{"model":"m","messages":[{"role":"user","content":"x"}]}`, []time.Duration{130 * time.Millisecond}},
		{"stream: ttft then per event", Config{Words: 5, TimeToFirstToken: 100 * time.Millisecond, TokenDelay: 10 * time.Millisecond, TokensPerChunk: 2},
			`{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`,
			[]time.Duration{100 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}},
		{"capped by max_tokens", Config{Words: 50, TokenDelay: time.Millisecond},
			`{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"x"}]}`, []time.Duration{2 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts, sl := newTestServer(t, Options{Config: tc.config})
			resp := postChat(t, ts.URL, tc.body)
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			got := sl.get()
			if len(got) != len(tc.want) {
				t.Fatalf("sleeps %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("sleeps %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}
