package sse

import (
	"fmt"
	"io"
	"strconv"
)

// AppendEvent appends ev to dst in wire form ("data: ...\n\n"), one "data" line
// per line of ev.Data, and returns the extended slice. Line breaks (CR, LF or
// CRLF) inside Data start a new data line, so the reader gets back Data with "\n"
// separators; line breaks inside Type or ID, which the format cannot carry, are
// dropped so that a value can never inject a field. An event without HasData and
// with empty Data writes no data line (a browser would not dispatch it).
func AppendEvent(dst []byte, ev Event) []byte {
	if ev.Type != "" {
		dst = append(dst, "event: "...)
		dst = appendSingleLine(dst, ev.Type)
		dst = append(dst, '\n')
	}
	if ev.HasID {
		dst = append(dst, "id: "...)
		dst = appendSingleLine(dst, ev.ID)
		dst = append(dst, '\n')
	}
	if ev.HasRetry {
		dst = append(dst, "retry: "...)
		dst = strconv.AppendInt(dst, ev.Retry.Milliseconds(), 10)
		dst = append(dst, '\n')
	}
	if ev.HasData || len(ev.Data) > 0 {
		dst = appendData(dst, ev.Data)
	}
	return append(dst, '\n')
}

// AppendData appends an event carrying only data, the common case.
func AppendData(dst, data []byte) []byte {
	return append(appendData(dst, data), '\n')
}

// AppendComment appends a comment line (": text\n"), typically a keep-alive.
// It is not an event on its own; a blank line is not added.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = appendSingleLine(dst, text)
	return append(dst, '\n')
}

func appendData(dst, data []byte) []byte {
	for {
		i := indexEOL(data)
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, '\n')
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

func appendSingleLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] != '\r' && s[i] != '\n' {
			dst = append(dst, s[i])
		}
	}
	return dst
}

// Writer writes events to an io.Writer, one Write call per event.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteEvent writes one event.
func (w *Writer) WriteEvent(ev Event) error {
	w.buf = AppendEvent(w.buf[:0], ev)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("sse: write event: %w", err)
	}
	return nil
}
