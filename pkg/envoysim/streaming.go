package envoysim

import (
	"errors"
	"io"
	"time"
)

// chunkQueueLen bounds how many STREAMED chunks may await answers; Envoy
// bounds the same queue by the buffer limit through watermarks.
const chunkQueueLen = 256

// chunkSize is the read size for body chunks, like a codec read.
const chunkSize = 16 << 10

// errProcStopped ends a STREAMED relay because ext_proc demanded a local
// reply or reset; the reply itself travels through exchange.asyncReply.
var errProcStopped = errors.New("ext_proc stopped the stream")

// streamChunk is one body chunk on its way through ext_proc.
type streamChunk struct {
	data []byte
	eos  bool
	// pm is the message awaiting an answer; nil once ext_proc dropped out.
	pm *pendingMsg
	// err is a read error from the body source, ending the stream.
	err error
}

// pumpChunks reads src and sends every chunk to ext_proc without waiting for
// answers (Envoy pipelines STREAMED bodies). The end of the body is an
// empty chunk with end_of_stream, as the codec delivers it.
func (ex *exchange) pumpChunks(d direction, src io.Reader, out chan<- streamChunk) {
	defer close(out)
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		eos := errors.Is(err, io.EOF)
		if err != nil && !eos {
			ex.queueChunk(out, streamChunk{err: err})
			return
		}
		if n == 0 && !eos {
			continue
		}
		c := streamChunk{data: append([]byte(nil), buf[:n]...), eos: eos}
		if pm, perr := ex.proc.send(d, kindBody, bodyRequest(d, c.data, eos)); perr == nil {
			c.pm = pm
		}
		if !ex.queueChunk(out, c) || eos {
			return
		}
	}
}

func (ex *exchange) queueChunk(out chan<- streamChunk, c streamChunk) bool {
	select {
	case out <- c:
		return true
	case <-ex.ctx.Done():
		return false
	}
}

// relayChunks applies answers in order, each replacing its own chunk, and
// hands the result to write. When ext_proc drops out (closed with OK, or
// failure_mode_allow) the remaining chunks pass unmodified.
func (ex *exchange) relayChunks(d direction, in <-chan streamChunk, write func([]byte) error) error {
	var waitStart time.Time
	for c := range in {
		if c.err != nil {
			return c.err
		}
		data := c.data
		if c.pm != nil {
			resp, perr := ex.proc.await(ex.ctx, c.pm, waitStart)
			if perr != nil {
				if ex.procReply(ex.proc.err()) != nil {
					return errProcStopped
				}
			} else if bm := bodyCommon(d, resp).GetBodyMutation(); bm != nil {
				data = mutateBody(data, bm)
			}
			waitStart = ex.p.clock.Now()
		}
		if len(data) > 0 {
			if err := write(data); err != nil {
				return err
			}
		}
	}
	if ex.ctx.Err() != nil {
		return ex.ctx.Err()
	}
	return nil
}
