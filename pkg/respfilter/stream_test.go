package respfilter

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/sse"
)

// streamCase is one end-to-end scenario; it is run with the stream unsplit,
// split at every byte offset and split randomly.
type streamCase struct {
	name        string
	guard       *guardrail.Options
	wantsUsage  bool
	deltas      []string
	wantContent string
	wantFinish  string
	wantOutcome Outcome
}

func streamCases() []streamCase {
	banned := []string{"bad", "forbidden phrase"}
	return []streamCase{
		{name: "guardrails off, usage dropped", deltas: []string{"Hello", " bad", " world"},
			wantContent: "Hello bad world", wantFinish: "stop"},
		{name: "guardrails off, usage kept", wantsUsage: true, deltas: []string{"Hello"},
			wantContent: "Hello", wantFinish: "stop"},
		{name: "redact word split across events", guard: &guardrail.Options{Banned: banned},
			deltas:      []string{"This is b", "a", "d, and so is B", "AD."},
			wantContent: "This is [redacted], and so is [redacted].", wantFinish: "stop",
			wantOutcome: Outcome{Redactions: 2}},
		{name: "redact phrase across events and white space", guard: &guardrail.Options{Banned: banned},
			wantsUsage:  true,
			deltas:      []string{"a forbid", "den \n ", " phrase!", " badge"},
			wantContent: "a [redacted]! badge", wantFinish: "stop", wantOutcome: Outcome{Redactions: 1}},
		{name: "redact word at the very end", guard: &guardrail.Options{Banned: banned},
			deltas: []string{"ends ", "ba", "d"}, wantContent: "ends [redacted]", wantFinish: "stop",
			wantOutcome: Outcome{Redactions: 1}},
		{name: "stop", guard: &guardrail.Options{Banned: banned, Action: guardrail.ActionStop},
			deltas: []string{"fine ", "then b", "ad stuff", " more"}, wantContent: "fine then ",
			wantFinish: "content_filter", wantOutcome: Outcome{ContentFiltered: true}},
		{name: "stop with usage", guard: &guardrail.Options{Banned: banned, Action: guardrail.ActionStop},
			wantsUsage: true, deltas: []string{"fine ", "then b", "ad stuff", " more"}, wantContent: "fine then ",
			wantFinish: "content_filter", wantOutcome: Outcome{ContentFiltered: true}},
		{name: "stop decided at the finish chunk", guard: &guardrail.Options{Banned: banned, Action: guardrail.ActionStop},
			wantsUsage: true, deltas: []string{"so ", "bad"}, wantContent: "so ",
			wantFinish: "content_filter", wantOutcome: Outcome{ContentFiltered: true}},
		{name: "max chars exact", guard: &guardrail.Options{MaxChars: 10}, deltas: []string{"héllo", " wörld", " again"},
			wantContent: "héllo wörl", wantFinish: "length", wantOutcome: Outcome{Truncated: true}},
		{name: "max chars reached exactly is not a cut", guard: &guardrail.Options{MaxChars: 5}, deltas: []string{"hel", "lo"},
			wantContent: "hello", wantFinish: "stop"},
		{name: "max tokens exact", guard: &guardrail.Options{MaxTokens: 3, CountTokens: countTokens}, wantsUsage: true,
			deltas: []string{"one", " two", " three", " four"}, wantContent: "one two three",
			wantFinish: "length", wantOutcome: Outcome{Truncated: true}},
		{name: "emoji and multi-byte kept whole", guard: &guardrail.Options{Banned: banned, MaxChars: 7},
			deltas: []string{"🎉é", "日本", "🎉🎉", "ü"}, wantContent: "🎉é日本🎉🎉ü", wantFinish: "stop"},
		{name: "redaction then cap", guard: &guardrail.Options{Banned: banned, MaxChars: 12},
			deltas: []string{"x bad", " y z"}, wantContent: "x [redacted]", wantFinish: "length",
			wantOutcome: Outcome{Redactions: 1, Truncated: true}},
	}
}

func (tc streamCase) options(t testing.TB) Options {
	opts := Options{ClientModel: clientModel, ClientWantsUsage: tc.wantsUsage, CountTokens: countTokens}
	if tc.guard != nil {
		opts.Policy = policy(t, *tc.guard)
	}
	return opts
}

// check runs the stream split into chunks and checks what the client sees.
func (tc streamCase) check(t *testing.T, chunks [][]byte) {
	t.Helper()
	s := NewStream(tc.options(t))
	out := process(t, s, chunks)
	c := decodeClient(t, out)
	if c.content[0] != tc.wantContent || c.finish[0] != tc.wantFinish {
		t.Fatalf("client got %q finish %q, want %q finish %q\n%s", c.content[0], c.finish[0], tc.wantContent, tc.wantFinish, out)
	}
	if len(c.models) != 1 || !c.models[clientModel] || len(c.ids) != 1 || !c.ids["chatcmpl-42"] {
		t.Fatalf("models %v ids %v, want only %q and chatcmpl-42", c.models, c.ids, clientModel)
	}
	if tc.wantsUsage != (c.usage != nil) {
		t.Fatalf("client usage %+v, client asked: %v", c.usage, tc.wantsUsage)
	}
	if c.usage != nil && c.usage.TotalTokens != 19 {
		t.Fatalf("client usage %+v", c.usage)
	}
	if u, ok := s.Usage(); !ok || u != wantUsage {
		t.Fatalf("Usage() = %+v, %v", u, ok)
	}
	want := 0
	for _, d := range tc.deltas {
		want += countTokens(d)
	}
	if got := s.CountedOutputTokens(); got != int64(want) {
		t.Fatalf("CountedOutputTokens() = %d for %q", got, tc.deltas)
	}
	if o := s.Outcome(); o.Redactions != tc.wantOutcome.Redactions || o.ContentFiltered != tc.wantOutcome.ContentFiltered || o.Truncated != tc.wantOutcome.Truncated {
		t.Fatalf("Outcome() = %+v, want %+v", o, tc.wantOutcome)
	}
	if bytes.Contains(out, []byte(providerModel)) {
		t.Fatal("provider model leaked")
	}
}

func TestStreamWhole(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, [][]byte{openAIStream(tc.deltas...)}) })
	}
}

func TestStreamSplitAtEveryOffset(t *testing.T) {
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := openAIStream(tc.deltas...)
			for i := 0; i <= len(in); i++ {
				tc.check(t, splitAt(in, i))
			}
		})
	}
}

func TestStreamRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range streamCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := openAIStream(tc.deltas...)
			for range 300 {
				tc.check(t, randomChunks(rng, in))
			}
		})
	}
}

func TestStreamUnguardedKeepsEventsVerbatim(t *testing.T) {
	in := []byte(": keep-alive\n\nevent: custom\ndata: not json\n\ndata: {\"error\":{\"message\":\"x\"}}\n\ndata: [DONE]\n\n")
	out := process(t, NewStream(Options{ClientModel: clientModel}), splitAt(in, 5, 30))
	if !bytes.Equal(out, in) {
		t.Errorf("got %q, want it unchanged", out)
	}
}

func TestStreamSwallowsAfterStop(t *testing.T) {
	in := openAIStream("a bad", " secret", " more")
	s := NewStream(Options{ClientModel: clientModel, Policy: policy(t, guardrail.Options{Banned: []string{"bad"}, Action: guardrail.ActionStop})})
	out := process(t, s, splitAt(in, len(in)/3))
	if bytes.Contains(out, []byte("secret")) || bytes.Count(out, []byte("[DONE]")) != 1 {
		t.Fatalf("output after stop:\n%s", out)
	}
	if _, ok := s.Usage(); !ok {
		t.Error("usage sent after the stop was not captured")
	}
}

func TestStreamHeldTextReleasedWithoutContentField(t *testing.T) {
	// The text "ba" is held (it could become "bad"); the finish chunk has no
	// content field, so the filter writes a content chunk before it.
	in := openAIStream("x ba")
	out := process(t, NewStream(Options{Policy: policy(t, guardrail.Options{Banned: []string{"bad"}})}), [][]byte{in})
	c := decodeClient(t, out)
	if c.content[0] != "x ba" || c.finish[0] != "stop" {
		t.Errorf("client got %q finish %q", c.content[0], c.finish[0])
	}
}

func TestStreamEndWithoutDone(t *testing.T) {
	// A provider that stops without [DONE] and without terminating its last
	// event: the held text is released, the last event is completed.
	in := "data: " + chunkHead + `,"choices":[{"index":0,"delta":{"content":"a ba"},"finish_reason":null}]}` + "\n\n" +
		"data: " + chunkHead + `,"choices":[],"usage":` + usageJSON + "}"
	s := NewStream(Options{Policy: policy(t, guardrail.Options{Banned: []string{"bad"}}), ClientWantsUsage: true})
	out := process(t, s, [][]byte{[]byte(in), nil})
	out = append(out, "data: [DONE]\n\n"...) // decodeClient wants one
	c := decodeClient(t, out)
	if c.content[0] != "a ba" || c.usage == nil {
		t.Errorf("client got %q usage %v\n%s", c.content[0], c.usage, out)
	}
}

func TestStreamTwoChoices(t *testing.T) {
	var in bytes.Buffer
	for _, d := range []string{`0,"delta":{"content":"one b"}`, `1,"delta":{"content":"two b"}`, `0,"delta":{"content":"ad"}`, `1,"delta":{"content":"ig"}`,
		`0,"delta":{},"finish_reason":"stop"`, `1,"delta":{},"finish_reason":"stop"`} {
		in.WriteString("data: " + chunkHead + `,"choices":[{"index":` + d + "}]}\n\n")
	}
	in.WriteString("data: [DONE]\n\n")
	out := process(t, NewStream(Options{Policy: policy(t, guardrail.Options{Banned: []string{"bad"}})}), [][]byte{in.Bytes()})
	c := decodeClient(t, out)
	if c.content[0] != "one [redacted]" || c.content[1] != "two big" || c.finish[0] != "stop" || c.finish[1] != "stop" {
		t.Errorf("client got %v %v", c.content, c.finish)
	}
}

func TestStreamErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		in   string
		want error
	}{
		{"event too large", Options{MaxEventBytes: 16}, "data: " + strings.Repeat("x", 20), sse.ErrEventTooLarge},
		{"choice index out of range", Options{Policy: policy(t, guardrail.Options{MaxChars: 5})},
			`data: {"choices":[{"index":100000,"delta":{"content":"x"}}]}` + "\n\n", ErrTooManyChoices},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream(tt.opts)
			_, err := s.Process([]byte(tt.in), false)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := s.Process(nil, true); !errors.Is(err, tt.want) {
				t.Fatalf("error not sticky: %v", err)
			}
		})
	}
}

func TestStreamMemoryBounded(t *testing.T) {
	s := NewStream(Options{ClientModel: clientModel, Policy: policy(t, guardrail.Options{Banned: []string{"bad word"}})})
	ev := []byte("data: " + chunkHead + `,"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}` + "\n\n")
	for range 50000 {
		if _, err := s.Process(ev[:70], false); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Process(ev[70:], false); err != nil {
			t.Fatal(err)
		}
	}
	if held := s.choices[0].m.Held(); held > 16 {
		t.Errorf("matcher holds %d bytes after 50000 chunks", held)
	}
	if c := cap(s.scratch) + cap(s.es); c > 4096 {
		t.Errorf("scratch capacity %d", c)
	}
}
