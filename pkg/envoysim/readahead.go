package envoysim

import (
	"context"
	"errors"
	"io"
)

// readAhead reads the client body ahead of the filter chain, up to the
// buffer limit, as Envoy's codec does while filters wait. Besides fidelity
// this matters for net/http, which only watches an HTTP/1 connection for a
// client disconnect once the request body has been consumed.
type readAhead struct {
	ch   chan readChunk
	cur  []byte
	err  error
	done <-chan struct{}
	// onBroken runs when the client's body breaks off (a downstream reset
	// in Envoy's terms), even while no filter is reading.
	onBroken func()
}

type readChunk struct {
	data []byte
	err  error
}

func newReadAhead(src io.Reader, limit int64, done <-chan struct{}, onBroken func()) *readAhead {
	ra := &readAhead{ch: make(chan readChunk, max(4, limit/chunkSize+1)), done: done, onBroken: onBroken}
	go ra.fill(src)
	return ra
}

// fill runs until the body ends or the exchange does; it is not waited for,
// since only the connection closing can interrupt a blocked client read.
func (ra *readAhead) fill(src io.Reader) {
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 && !ra.push(readChunk{data: buf[:n]}) {
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ra.onBroken()
			}
			ra.push(readChunk{err: err})
			return
		}
	}
}

func (ra *readAhead) push(c readChunk) bool {
	select {
	case ra.ch <- c:
		return true
	case <-ra.done:
		return false
	}
}

// Read returns buffered data, merging chunks that already arrived the way
// Envoy hands a filter everything buffered so far.
func (ra *readAhead) Read(p []byte) (int, error) {
	if len(ra.cur) == 0 && ra.err == nil {
		select {
		case c := <-ra.ch:
			ra.take(c)
		case <-ra.done:
			return 0, context.Canceled
		}
	}
	n := 0
	for {
		m := copy(p[n:], ra.cur)
		n += m
		ra.cur = ra.cur[m:]
		if len(ra.cur) > 0 || n == len(p) || ra.err != nil {
			break
		}
		select {
		case c := <-ra.ch:
			ra.take(c)
			continue
		default:
		}
		break
	}
	if n > 0 {
		return n, nil
	}
	return 0, ra.err
}

func (ra *readAhead) take(c readChunk) {
	if c.err != nil {
		ra.err = c.err
		return
	}
	ra.cur = c.data
}
