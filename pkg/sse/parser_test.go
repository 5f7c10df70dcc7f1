package sse

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// got is the comparable part of an Event (Data/Raw copied out of the buffers).
type got struct {
	Type         string
	Data         string
	HasData      bool
	ID           string
	HasID        bool
	Retry        time.Duration
	HasRetry     bool
	Raw          string
	Unterminated bool
}

func snapshot(ev Event) got {
	return got{ev.Type, string(ev.Data), ev.HasData, ev.ID, ev.HasID, ev.Retry, ev.HasRetry, string(ev.Raw), ev.Unterminated}
}

// parseChunks feeds the chunks and collects every event, then the end of stream.
func parseChunks(t testing.TB, opts Options, chunks ...[]byte) ([]got, error) {
	t.Helper()
	p := NewParser(opts)
	var out []got
	drain := func() error {
		for {
			ev, ok, err := p.Next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			out = append(out, snapshot(ev))
		}
	}
	for _, c := range chunks {
		if err := p.Feed(c); err != nil {
			return out, err
		}
		if err := drain(); err != nil {
			return out, err
		}
	}
	p.End()
	return out, drain()
}

func TestParser(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"single data", "data: hello\n\n", []got{{Data: "hello", HasData: true, Raw: "data: hello\n\n"}}},
		{"no space after colon", "data:hello\n\n", []got{{Data: "hello", HasData: true, Raw: "data:hello\n\n"}}},
		{"only one space stripped", "data:  two\n\n", []got{{Data: " two", HasData: true, Raw: "data:  two\n\n"}}},
		{"multi-line data", "data: a\ndata: b\n\n", []got{{Data: "a\nb", HasData: true, Raw: "data: a\ndata: b\n\n"}}},
		{"empty data field", "data\n\n", []got{{Data: "", HasData: true, Raw: "data\n\n"}}},
		{"crlf", "data: a\r\ndata: b\r\n\r\n", []got{{Data: "a\nb", HasData: true, Raw: "data: a\r\ndata: b\r\n\r"}}},
		{"cr only", "data: a\rdata: b\r\r", []got{{Data: "a\nb", HasData: true, Raw: "data: a\rdata: b\r\r"}}},
		{"event id retry", "event: ping\nid: 7\nretry: 1500\ndata: x\n\n", []got{{
			Type: "ping", Data: "x", HasData: true, ID: "7", HasID: true, Retry: 1500 * time.Millisecond, HasRetry: true,
			Raw: "event: ping\nid: 7\nretry: 1500\ndata: x\n\n",
		}}},
		{"bad retry ignored", "retry: 1s\ndata: x\n\n", []got{{Data: "x", HasData: true, Raw: "retry: 1s\ndata: x\n\n"}}},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", []got{{Data: "x", HasData: true, Raw: "id: a\x00b\ndata: x\n\n"}}},
		{"comment only block", ": keep-alive\n\n", []got{{Raw: ": keep-alive\n\n"}}},
		{"comment inside event", ": c\ndata: x\n\n", []got{{Data: "x", HasData: true, Raw: ": c\ndata: x\n\n"}}},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []got{{Data: "x", HasData: true, Raw: "foo: bar\ndata: x\n\n"}}},
		{"leading blank lines skipped", "\n\r\n\rdata: x\n\n", []got{{Data: "x", HasData: true, Raw: "data: x\n\n"}}},
		{"bom stripped", "\xEF\xBB\xBFdata: x\n\n", []got{{Data: "x", HasData: true, Raw: "data: x\n\n"}}},
		{"two events", "data: 1\n\ndata: 2\n\n", []got{
			{Data: "1", HasData: true, Raw: "data: 1\n\n"}, {Data: "2", HasData: true, Raw: "data: 2\n\n"},
		}},
		{"unterminated last event", "data: 1\n\ndata: 2\n", []got{
			{Data: "1", HasData: true, Raw: "data: 1\n\n"}, {Data: "2", HasData: true, Raw: "data: 2\n", Unterminated: true},
		}},
		{"unterminated last line", "data: [DONE]", []got{{Data: "[DONE]", HasData: true, Raw: "data: [DONE]", Unterminated: true}}},
		{"empty stream", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := parseChunks(t, Options{}, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, evs); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// splitStream is a stream exercising every rule, including CR at chunk ends.
const splitStream = "\xEF\xBB\xBF: hi\r\n\r\n" +
	"data: {\"a\":1}\r\n\r\n" +
	"event: e\rid: 1\rretry: 10\rdata: x\rdata:y\r\r" +
	"data: multi\ndata:\ndata: line\n\n" +
	"data: ünïcødé 🎉\r\n\r\n" +
	"\n\n: only comment\n\n" +
	"data: [DONE]\n\n" +
	"data: tail"

func TestParserSplitAtEveryOffset(t *testing.T) {
	want, err := parseChunks(t, Options{}, []byte(splitStream))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 8 {
		t.Fatalf("reference parse found %d events, want 8: %+v", len(want), want)
	}
	in := []byte(splitStream)
	for i := 0; i <= len(in); i++ {
		for j := i; j <= len(in); j++ {
			evs, err := parseChunks(t, Options{}, in[:i], in[i:j], in[j:])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, evs); diff != "" {
				t.Fatalf("split at %d,%d (-want +got):\n%s", i, j, diff)
			}
		}
	}
}

func TestParserRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := []byte(splitStream)
	want, _ := parseChunks(t, Options{}, in)
	for range 2000 {
		evs, err := parseChunks(t, Options{}, randomSplit(rng, in)...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, evs); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
}

func randomSplit(rng *rand.Rand, in []byte) [][]byte {
	var out [][]byte
	for len(in) > 0 {
		n := rng.IntN(min(len(in), 8) + 1)
		out = append(out, in[:n])
		in = in[n:]
	}
	return out
}

func TestParserMaxEventBytes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantN   int
		wantErr bool
	}{
		{"fits exactly", "data: 12\n\n", 1, false}, // "data: 12\n" is 9 bytes
		{"one byte over", "data: 123\n\n", 0, true},
		{"events before the big one survive", "data: 1\n\ndata: 123456789\n\n", 1, true},
		{"no blank line ever", "data: 1234567890", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for split := 0; split <= len(tt.in); split++ {
				evs, err := parseChunks(t, Options{MaxEventBytes: 9}, []byte(tt.in[:split]), []byte(tt.in[split:]))
				if gotErr := errors.Is(err, ErrEventTooLarge); gotErr != tt.wantErr {
					t.Fatalf("split %d: err = %v, want error %v", split, err, tt.wantErr)
				}
				if len(evs) != tt.wantN {
					t.Fatalf("split %d: %d events, want %d", split, len(evs), tt.wantN)
				}
			}
		})
	}
}

func TestParserBoundedBuffer(t *testing.T) {
	p := NewParser(Options{})
	ev := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
	for range 100000 {
		if err := p.Feed(ev[:10]); err != nil {
			t.Fatal(err)
		}
		if err := p.Feed(ev[10:]); err != nil {
			t.Fatal(err)
		}
		for {
			_, ok, err := p.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
		}
	}
	if c := cap(p.buf); c > 4*len(ev) {
		t.Errorf("buffer capacity %d after 100000 events, want bounded by one event", c)
	}
}

func TestParserFeedAfterEnd(t *testing.T) {
	p := NewParser(Options{})
	p.End()
	if err := p.Feed([]byte("data: x\n\n")); err == nil {
		t.Fatal("Feed after End succeeded")
	}
}
