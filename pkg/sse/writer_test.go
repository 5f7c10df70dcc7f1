package sse

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"data", Event{Data: []byte(`{"a":1}`), HasData: true}, "data: {\"a\":1}\n\n"},
		{"empty data", Event{HasData: true}, "data: \n\n"},
		{"multi-line", Event{Data: []byte("a\nb\r\nc\rd")}, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"trailing newline", Event{Data: []byte("a\n")}, "data: a\ndata: \n\n"},
		{"all fields", Event{Type: "t", ID: "1", HasID: true, Retry: 2 * time.Second, HasRetry: true, Data: []byte("x")},
			"event: t\nid: 1\nretry: 2000\ndata: x\n\n"},
		{"no field injection", Event{Type: "a\ndata: evil", ID: "1\r\n", HasID: true, Data: []byte("x")},
			"event: adata: evil\nid: 1\ndata: x\n\n"},
		{"no data", Event{Type: "t"}, "event: t\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendEvent(nil, tt.ev)); got != tt.want {
				t.Errorf("AppendEvent = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAppendDataAndComment(t *testing.T) {
	got := string(AppendComment(AppendData(nil, []byte("[DONE]")), "ping"))
	if want := "data: [DONE]\n\n: ping\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, d := range []string{"one", "two"} {
		if err := w.WriteEvent(Event{Data: []byte(d), HasData: true}); err != nil {
			t.Fatal(err)
		}
	}
	if want := "data: one\n\ndata: two\n\n"; b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
	if err := NewWriter(failingWriter{}).WriteEvent(Event{HasData: true}); err == nil {
		t.Error("write error not reported")
	}
}
