package telemetry

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer records every Write call separately.
type lockedBuffer struct {
	mu     sync.Mutex
	writes []string
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes = append(b.writes, string(p))
	return len(p), nil
}

func (b *lockedBuffer) snapshot() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.writes...)
}

func TestLogWriterBatchesWholeLines(t *testing.T) {
	out := &lockedBuffer{}
	w := NewLogWriter(out, time.Hour, 64) // only size and Close flush
	for i := range 10 {
		if _, err := w.Write([]byte(strings.Repeat("x", 9) + string(rune('0'+i)) + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	// 11-byte lines, 64-byte batches: five lines per write, never split.
	for _, wr := range out.snapshot() {
		if len(wr)%11 != 0 || !strings.HasSuffix(wr, "\n") {
			t.Errorf("write of %d bytes splits a line: %q", len(wr), wr)
		}
	}
	if got := len(out.snapshot()); got != 1 {
		t.Errorf("%d writes before Close, want 1 (the first full batch)", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.snapshot(), ""); strings.Count(got, "\n") != 10 {
		t.Errorf("after Close: %d lines, want 10", strings.Count(got, "\n"))
	}
	// After Close lines go straight through.
	w.Write([]byte("late\n"))
	if s := out.snapshot(); s[len(s)-1] != "late\n" {
		t.Errorf("line after Close not written through: %q", s)
	}
}

func TestLogWriterFlushesOnInterval(t *testing.T) {
	out := &lockedBuffer{}
	w := NewLogWriter(out, 5*time.Millisecond, 1<<20)
	defer w.Close()
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for len(out.snapshot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("line not flushed by the interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogWriterLargeLineWritesThrough(t *testing.T) {
	out := &bytes.Buffer{}
	w := NewLogWriter(out, time.Hour, 8)
	w.Write([]byte("ab\n"))
	big := strings.Repeat("y", 20) + "\n"
	w.Write([]byte(big))
	if got := out.String(); got != "ab\n"+big {
		t.Errorf("got %q, want pending line then the large one", got)
	}
	w.Close()
}
