// Package sse parses and writes Server-Sent Events (the text/event-stream format
// of the WHATWG HTML standard, section 9.2) incrementally, from byte chunks whose
// boundaries have nothing to do with lines, events or UTF-8 characters.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// DefaultMaxEventBytes bounds one event when Options.MaxEventBytes is zero. It is
// far above any chat completion chunk and small enough that a provider that never
// sends a blank line cannot make the parser hold much memory.
const DefaultMaxEventBytes = 1 << 20

// ErrEventTooLarge reports an event (or a run of bytes without a blank line) longer
// than the configured maximum. The parser stays failed afterwards.
var ErrEventTooLarge = errors.New("sse: event too large")

// Options configures a Parser.
type Options struct {
	// MaxEventBytes bounds the bytes of one event, its field lines and their line
	// terminators, excluding the blank line that ends it. Zero means
	// DefaultMaxEventBytes.
	MaxEventBytes int
}

// Event is one block of lines ended by a blank line.
//
// Data and Raw alias the parser's buffers: they are valid only until the next
// call to Feed or Next.
type Event struct {
	// Type is the last "event" field; empty means the default type "message".
	Type string
	// Data is the values of the "data" fields joined with "\n".
	Data []byte
	// HasData reports whether the block had at least one "data" field. A WHATWG
	// client dispatches only such blocks; the others (comments, a lone "id")
	// are returned so that a proxy can forward keep-alive comments.
	HasData bool
	// ID is the value of the last valid "id" field of this block. Unlike a
	// browser, the parser does not carry the last event ID over to later events.
	ID    string
	HasID bool
	// Retry is the "retry" field (milliseconds in the stream).
	Retry    time.Duration
	HasRetry bool
	// Raw is the exact bytes of the block, including its terminating blank line
	// (absent when Unterminated).
	Raw []byte
	// Unterminated marks the last block of a stream that ended without a blank
	// line. A WHATWG client discards it; callers choose.
	Unterminated bool
}

// Parser turns chunks of an event stream into events. It keeps only the bytes of
// the event being read, so memory is bounded by Options.MaxEventBytes whatever
// the length of the stream. A Parser is not safe for concurrent use.
type Parser struct {
	max int
	buf []byte
	// evStart is where the current block starts in buf, pos is where the next
	// line starts, scan is how far a line terminator was already looked for.
	evStart, pos, scan int
	skipLF             bool // the last line ended with CR: drop a following LF
	bomChecked         bool
	ended              bool
	err                error

	cur     Event
	data    []byte
	content bool // the current block has a non-blank line
}

// NewParser returns a parser for one stream.
func NewParser(opts Options) *Parser {
	maxBytes := opts.MaxEventBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	return &Parser{max: maxBytes}
}

// Feed appends the next chunk of the stream. It invalidates the Data and Raw of
// events returned before. Feeding after End is an error.
func (p *Parser) Feed(chunk []byte) error {
	if p.err != nil {
		return p.err
	}
	if p.ended {
		return errors.New("sse: Feed after End")
	}
	if p.evStart > 0 {
		// Drop what earlier events used; what is left is at most one event.
		n := copy(p.buf, p.buf[p.evStart:])
		p.buf = p.buf[:n]
		p.pos -= p.evStart
		p.scan -= p.evStart
		p.evStart = 0
	}
	p.buf = append(p.buf, chunk...)
	return nil
}

// End marks the end of the stream: Next then also returns a last block that was
// not ended by a blank line, with Unterminated set.
func (p *Parser) End() { p.ended = true }

// Next returns the next complete event. ok is false when more input is needed
// (or, after End, when the stream is exhausted).
func (p *Parser) Next() (ev Event, ok bool, err error) {
	if p.err != nil {
		return Event{}, false, p.err
	}
	if !p.skipBOM() {
		return Event{}, false, nil
	}
	for {
		line, found := p.nextLine()
		if !found {
			return p.atEndOfInput()
		}
		if len(line) > 0 {
			if p.pos-p.evStart > p.max {
				return Event{}, false, p.fail()
			}
			p.field(line)
			continue
		}
		if !p.content {
			p.evStart = p.pos // skip blank lines between events
			continue
		}
		return p.dispatch(p.buf[p.evStart:p.pos], false), true, nil
	}
}

// atEndOfInput handles a buffer without a further complete line.
func (p *Parser) atEndOfInput() (Event, bool, error) {
	if len(p.buf)-p.evStart > p.max {
		return Event{}, false, p.fail()
	}
	if !p.ended {
		return Event{}, false, nil
	}
	if p.pos < len(p.buf) {
		// A last line without terminator still counts as a line.
		line := p.buf[p.pos:]
		p.pos = len(p.buf)
		p.scan = p.pos
		p.field(line)
	}
	if !p.content {
		p.evStart = p.pos
		return Event{}, false, nil
	}
	return p.dispatch(p.buf[p.evStart:p.pos], true), true, nil
}

func (p *Parser) fail() error {
	p.err = fmt.Errorf("%w: more than %d bytes", ErrEventTooLarge, p.max)
	return p.err
}

// skipBOM drops a UTF-8 byte order mark at the very start of the stream. It
// reports false while too few bytes arrived to tell.
func (p *Parser) skipBOM() bool {
	if p.bomChecked {
		return true
	}
	const bom = "\xEF\xBB\xBF"
	rest := p.buf[p.pos:]
	if len(rest) < len(bom) && !p.ended && bytes.HasPrefix([]byte(bom), rest) {
		return false
	}
	if bytes.HasPrefix(rest, []byte(bom)) {
		p.pos += len(bom)
		p.scan = p.pos
		p.evStart = p.pos
	}
	p.bomChecked = true
	return true
}

// nextLine returns the next line without its terminator. A CR ends a line at
// once (so the result never depends on where chunks split); an LF right after it
// is skipped when it arrives.
func (p *Parser) nextLine() ([]byte, bool) {
	if p.skipLF && p.pos < len(p.buf) {
		p.skipLF = false
		if p.buf[p.pos] == '\n' {
			if p.evStart == p.pos {
				p.evStart++
			}
			p.pos++
			p.scan = p.pos
		}
	}
	i := indexEOL(p.buf[p.scan:])
	if i < 0 {
		p.scan = len(p.buf)
		return nil, false
	}
	end := p.scan + i
	line := p.buf[p.pos:end]
	p.skipLF = p.buf[end] == '\r'
	p.pos = end + 1
	p.scan = p.pos
	return line, true
}

// field applies one non-blank line to the current block.
func (p *Parser) field(line []byte) {
	p.content = true
	if line[0] == ':' {
		return // comment
	}
	name, value, found := bytes.Cut(line, []byte{':'})
	if found && len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	switch string(name) {
	case "event":
		p.cur.Type = string(value)
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
		p.cur.HasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.cur.ID = string(value)
			p.cur.HasID = true
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			p.cur.Retry = time.Duration(ms) * time.Millisecond
			p.cur.HasRetry = true
		}
	}
}

// dispatch completes the current block and resets the per-block state.
func (p *Parser) dispatch(raw []byte, unterminated bool) Event {
	ev := p.cur
	if ev.HasData {
		ev.Data = p.data[:len(p.data)-1] // drop the last "\n"
	}
	ev.Raw = raw
	ev.Unterminated = unterminated
	p.cur = Event{}
	p.data = p.data[:0]
	p.content = false
	p.evStart = p.pos
	return ev
}

// parseDigits parses a non-empty run of ASCII digits, as the retry field
// requires; absurd values are rejected rather than overflowing.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// indexEOL returns the index of the first CR or LF in b, or -1. Two SIMD
// searches beat bytes.IndexAny's byte-by-byte set lookup.
func indexEOL(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf >= 0 {
		b = b[:lf]
	}
	if cr := bytes.IndexByte(b, '\r'); cr >= 0 {
		return cr
	}
	return lf
}
