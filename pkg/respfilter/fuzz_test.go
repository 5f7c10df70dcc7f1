package respfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/sse"
)

var fuzzBanned = []string{"bad", "evil plan"}

// fuzzOptions derives the filter options from one fuzzed byte.
func fuzzOptions(t testing.TB, mode uint8) Options {
	opts := Options{ClientModel: clientModel, ClientWantsUsage: mode&1 != 0, MaxEventBytes: 4096}
	switch (mode >> 1) % 4 {
	case 1:
		opts.Policy = policy(t, guardrail.Options{Banned: fuzzBanned})
	case 2:
		opts.Policy = policy(t, guardrail.Options{Banned: fuzzBanned, Action: guardrail.ActionStop})
	case 3:
		opts.Policy = policy(t, guardrail.Options{Banned: fuzzBanned, MaxChars: 20})
	}
	return opts
}

// visibleContent is the content a client decoding out reads, per choice.
func visibleContent(t *testing.T, out []byte) map[int64]string {
	p := sse.NewParser(sse.Options{})
	_ = p.Feed(out)
	p.End()
	text := map[int64]string{}
	for {
		ev, ok, err := p.Next()
		if err != nil {
			t.Fatalf("output is not parseable SSE: %v", err)
		}
		if !ok {
			return text
		}
		if ev.Unterminated {
			t.Fatalf("unterminated event in output: %q", ev.Raw)
		}
		var chunk struct {
			Choices []struct {
				Index int64 `json:"index"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal(ev.Data, &chunk) == nil {
			for _, c := range chunk.Choices {
				text[c.Index] += c.Delta.Content
			}
		}
	}
}

func FuzzStreamProcess(f *testing.F) {
	f.Add(openAIStream("a b", "ad evil", " plan 🎉"), uint16(10), uint16(200), uint8(2))
	f.Add(openAIStream("x"), uint16(0), uint16(1), uint8(5))
	f.Add([]byte("data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"ba\",\"content\":\"d\"}}]}\r\r: c\n\ndata: [DONE]"), uint16(3), uint16(7), uint8(6))
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16, mode uint8) {
		opts := fuzzOptions(t, mode)
		whole, errWhole := NewStream(opts).Process(in, true)
		i := min(int(a), len(in))
		j := min(i+int(b), len(in))
		s := NewStream(opts)
		var split []byte
		var err error
		for k, c := range [][]byte{in[:i], in[i:j], in[j:]} {
			var o []byte
			if o, err = s.Process(c, k == 2); err != nil {
				break
			}
			split = append(split, o...)
		}
		if (err == nil) != (errWhole == nil) {
			t.Fatalf("split %d,%d: err %v, unsplit err %v", i, j, err, errWhole)
		}
		if err != nil {
			if !errors.Is(err, sse.ErrEventTooLarge) && !errors.Is(err, ErrTooManyChoices) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(whole, split) {
			t.Fatalf("split %d,%d changed the output:\nwhole %q\nsplit %q", i, j, whole, split)
		}
		content := visibleContent(t, split)
		if opts.Policy == nil {
			return
		}
		for idx, text := range content {
			if v, found := opts.Policy.CheckPrompt([]string{text}); found {
				t.Fatalf("choice %d: banned rule %d visible in %q\noutput %q", idx, v.Rule, text, split)
			}
		}
	})
}

func FuzzFilterJSON(f *testing.F) {
	f.Add([]byte(completion("a bad day", true)), uint8(2))
	f.Add([]byte(completion("evil\tplan", false)), uint8(4))
	f.Add([]byte(`{"error":{"message":"x"}}`), uint8(0))
	f.Add([]byte(`{"choices":[{"message":{"content":"bad","content":null}}],"choices":[]}`), uint8(6))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		opts := fuzzOptions(t, mode)
		res, err := FilterJSON(body, opts)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) || !bytes.Equal(res.Body, body) {
				t.Fatalf("err %v with body %q", err, res.Body)
			}
			return
		}
		if !json.Valid(res.Body) {
			t.Fatalf("invalid JSON output %q from %q", res.Body, body)
		}
		if res.Changed == bytes.Equal(res.Body, body) {
			t.Fatalf("Changed = %v but body %q -> %q", res.Changed, body, res.Body)
		}
		if opts.Policy == nil {
			return
		}
		var cc struct {
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if json.Unmarshal(res.Body, &cc) == nil {
			for _, c := range cc.Choices {
				if _, found := opts.Policy.CheckPrompt([]string{c.Message.Content}); found {
					t.Fatalf("banned phrase visible in %q", res.Body)
				}
			}
		}
	})
}
