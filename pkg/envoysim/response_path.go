package envoysim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
)

// upstreamResponse is a response entering the encoder side of the chain,
// from the upstream or from a filter's local reply.
type upstreamResponse struct {
	headers *headerMap
	body    io.ReadCloser
	noBody  bool
}

func (u *upstreamResponse) close() {
	if u.body != nil {
		_ = u.body.Close()
	}
}

// encode runs ext_proc's response side and writes the response downstream.
// Replies ext_proc itself produces here bypass the filter chain, as Envoy's
// sendLocalReply does once encoding started.
func (ex *exchange) encode(up *upstreamResponse) {
	defer up.close()
	if ex.procActive() && ex.mode.sendHeaders[dirResponse] {
		ans, lr := ex.processHeaders(dirResponse, up.headers, up.noBody)
		if lr != nil {
			lr.viaFilters = false
			ex.respondLocal(lr)
			return
		}
		if ans.replaced {
			ex.writeHeaders(up.headers)
			_, _ = ex.w.Write(ans.body)
			return
		}
	}
	if ex.procActive() && ex.mode.removesContentLength(dirResponse) {
		up.headers.del("content-length")
	}
	if up.noBody || !ex.procActive() {
		ex.writeHeaders(up.headers)
		ex.copyResponse(up.body)
		return
	}
	switch ex.mode.body[dirResponse] {
	case extprocfilterv3.ProcessingMode_BUFFERED:
		ex.bufferedResponse(up, false)
	case extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL:
		ex.bufferedResponse(up, true)
	case extprocfilterv3.ProcessingMode_STREAMED:
		ex.streamedResponse(up)
	default:
		ex.writeHeaders(up.headers)
		ex.copyResponse(up.body)
	}
}

// bufferedResponse holds the headers until the body answer, so its header
// mutations still apply; over the buffer limit the response becomes a 500.
func (ex *exchange) bufferedResponse(up *upstreamResponse, partial bool) {
	limit := ex.p.cfg.Listener.BufferLimit
	data, err := io.ReadAll(io.LimitReader(up.body, limit+1))
	if err != nil {
		ex.upstreamBodyFailed(err)
	}
	var rest io.Reader
	if int64(len(data)) > limit {
		if !partial {
			ex.p.stats.inc(ex.p.httpStat("rs_too_large"))
			ex.respondLocal(&localReply{status: http.StatusInternalServerError, body: "Internal Server Error", details: "response_payload_too_large"})
			return
		}
		rest = io.MultiReader(bytes.NewReader(data[limit:]), up.body)
		data = data[:limit]
	}
	resp, lr := ex.roundTrip(dirResponse, kindBody, bodyRequest(dirResponse, data, rest == nil))
	if lr != nil {
		ex.respondLocal(lr)
		return
	}
	if resp != nil {
		var perr *procError
		if data, perr = ex.applyBodyAnswer(dirResponse, resp, ex.heldHeaders(dirResponse, up.headers), data, !partial); perr != nil {
			ex.respondLocal(ex.stopProc(perr))
			return
		}
	}
	ex.writeHeaders(up.headers)
	if _, err := ex.w.Write(data); err != nil {
		ex.downstreamGone()
	}
	if rest != nil {
		ex.flush()
		ex.copyResponse(rest)
	}
}

// streamedResponse sends the headers at once, then relays chunks as their
// answers arrive, flushing after each.
func (ex *exchange) streamedResponse(up *upstreamResponse) {
	ex.writeHeaders(up.headers)
	ex.flush()
	chunks := make(chan streamChunk, chunkQueueLen)
	ex.helpers.Add(1)
	go func() {
		defer ex.helpers.Done()
		ex.pumpChunks(dirResponse, up.body, chunks)
	}()
	err := ex.relayChunks(dirResponse, chunks, func(b []byte) error {
		if _, err := ex.w.Write(b); err != nil {
			return errDownstreamWrite
		}
		ex.flush()
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errProcStopped):
		if r := ex.takeAsyncReply(); r != nil {
			ex.log.addFlag(r.flag)
			ex.log.details = r.details
		}
		ex.resetStream()
	case errors.Is(err, errDownstreamWrite):
		ex.downstreamGone()
	default:
		ex.upstreamBodyFailed(err)
	}
}

var errDownstreamWrite = errors.New("downstream write failed")

// copyResponse relays a body without ext_proc, flushing each chunk so that
// streams (SSE) reach the client as they arrive.
func (ex *exchange) copyResponse(src io.Reader) {
	if src == nil {
		return
	}
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := ex.w.Write(buf[:n]); werr != nil {
				ex.downstreamGone()
			}
			ex.flush()
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			ex.upstreamBodyFailed(err)
		}
	}
}

// upstreamBodyFailed handles an upstream failure after its headers arrived:
// Envoy can only reset the downstream stream (or answer, if ext_proc still
// held the headers).
func (ex *exchange) upstreamBodyFailed(err error) {
	if r := ex.takeAsyncReply(); r != nil {
		ex.respondLocal(r)
		return
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		ex.p.stats.inc(clusterStat(ex.log.upstreamCluster, "upstream_rq_timeout"))
		ex.log.addFlag("UT")
	case ex.ctx.Err() != nil:
		ex.log.addFlag("DC")
	default:
		ex.log.addFlag("UR")
	}
	ex.resetStream()
}

func (ex *exchange) downstreamGone() {
	ex.log.addFlag("DC")
	ex.resetStream()
}
