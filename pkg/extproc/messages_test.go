package extproc

import (
	"fmt"
	"strings"
	"testing"
)

// TestHeaderMutationKeepsEveryValue sets more headers than one block holds,
// with values long enough to move the shared value buffer, and checks that no
// value was overwritten or aliased by a later one.
func TestHeaderMutationKeepsEveryValue(t *testing.T) {
	m := &headerMutation{}
	want := map[string]string{}
	for i := range 3*headerBlock + 1 {
		name, value := fmt.Sprintf("x-h-%d", i), strings.Repeat(string(rune('a'+i%26)), 10*i+1)
		m.setHeader(name, value)
		want[name] = value
	}
	p := m.proto()
	if len(p.SetHeaders) != len(want) {
		t.Fatalf("%d headers, want %d", len(p.SetHeaders), len(want))
	}
	for _, h := range p.SetHeaders {
		if got := string(h.Header.RawValue); got != want[h.Header.Key] {
			t.Errorf("%s = %q, want %q", h.Header.Key, got, want[h.Header.Key])
		}
		if cap(h.Header.RawValue) != len(h.Header.RawValue) {
			t.Errorf("%s: value capacity %d exceeds its length %d: an append could overwrite a neighbour",
				h.Header.Key, cap(h.Header.RawValue), len(h.Header.RawValue))
		}
	}
}
