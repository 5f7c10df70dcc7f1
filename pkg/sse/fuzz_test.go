package sse

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func addSeeds(f *testing.F) {
	f.Add([]byte(splitStream), uint16(3), uint16(17))
	f.Add([]byte("data: a\r\n\r\ndata: b\r"), uint16(8), uint16(9))
	f.Add([]byte("\xEF\xBBdata: x\n\n"), uint16(1), uint16(2))
	f.Add([]byte("id: 1\nretry: 99\n\n:c\n\nevent:e\ndata\n\n"), uint16(0), uint16(5))
}

// FuzzParser checks that where a stream is split never changes the events.
func FuzzParser(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		opts := Options{MaxEventBytes: 64}
		want, wantErr := parseChunks(t, opts, in)
		i := min(int(a), len(in))
		j := min(i+int(b), len(in))
		got, err := parseChunks(t, opts, in[:i], in[i:j], in[j:])
		if errors.Is(err, ErrEventTooLarge) != errors.Is(wantErr, ErrEventTooLarge) {
			t.Fatalf("split %d,%d: err %v, unsplit err %v", i, j, err, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("split %d,%d (-unsplit +split):\n%s", i, j, diff)
		}
		for _, ev := range got {
			if len(ev.Raw) == 0 || len(ev.Raw) > 64+2 {
				t.Fatalf("raw of %d bytes: %q", len(ev.Raw), ev.Raw)
			}
		}
	})
}

// FuzzSSEParser checks that writing parsed events and parsing them again is
// lossless, so rewritten events keep their meaning.
func FuzzSSEParser(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte, _, _ uint16) {
		evs, _ := parseChunks(t, Options{}, in)
		var wire []byte
		var want []got
		for _, ev := range evs {
			if !ev.HasData {
				continue
			}
			wire = AppendEvent(wire, Event{
				Type: ev.Type, Data: []byte(ev.Data), HasData: true,
				ID: ev.ID, HasID: ev.HasID, Retry: ev.Retry, HasRetry: ev.HasRetry,
			})
			ev.Raw, ev.Unterminated = "", false
			want = append(want, ev)
		}
		again, err := parseChunks(t, Options{}, wire)
		if err != nil {
			t.Fatal(err)
		}
		for i := range again {
			again[i].Raw = ""
		}
		if diff := cmp.Diff(want, again); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s\nwire %q", diff, wire)
		}
	})
}
