package envoysim

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// requestBody is the body the router forwards: data when complete in memory,
// otherwise a stream.
type requestBody struct {
	data   []byte
	stream io.Reader
}

// decode runs ext_proc's request side: headers, then the body per mode.
// Headers stay held (mutable, route not final) until the body answer in the
// BUFFERED modes.
func (ex *exchange) decode() (*requestBody, *localReply) {
	noBody := ex.r.Body == nil || ex.r.Body == http.NoBody || ex.r.ContentLength == 0
	if !ex.procActive() {
		return ex.passthroughBody(noBody), nil
	}
	if ex.mode.sendHeaders[dirRequest] {
		ans, lr := ex.processHeaders(dirRequest, ex.req, noBody)
		if lr != nil {
			return nil, lr
		}
		if ans.replaced {
			// CONTINUE_AND_REPLACE: the client's body is dropped.
			return &requestBody{data: ans.body}, nil
		}
	}
	if noBody || !ex.procActive() {
		return ex.passthroughBody(noBody), nil
	}
	if ex.mode.removesContentLength(dirRequest) {
		ex.req.del("content-length")
	}
	switch ex.mode.body[dirRequest] {
	case extprocfilterv3.ProcessingMode_BUFFERED:
		return ex.bufferedRequestBody(false)
	case extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL:
		return ex.bufferedRequestBody(true)
	case extprocfilterv3.ProcessingMode_STREAMED:
		return ex.streamedRequestBody(), nil
	}
	return ex.passthroughBody(false), nil
}

func (ex *exchange) passthroughBody(noBody bool) *requestBody {
	if noBody {
		return &requestBody{}
	}
	return &requestBody{stream: ex.body}
}

// processHeaders sends a headers message and applies its answer to h.
func (ex *exchange) processHeaders(d direction, h *headerMap, eos bool) (headersAnswer, *localReply) {
	resp, lr := ex.roundTrip(d, kindHeaders, headersRequest(d, h, eos))
	if resp == nil {
		return headersAnswer{}, lr
	}
	ans, perr := ex.applyHeadersAnswer(d, resp, h)
	if perr != nil {
		return headersAnswer{}, ex.stopProc(perr)
	}
	return ans, nil
}

// roundTrip sends one message and waits for its answer. A nil response and
// nil reply mean ext_proc dropped out and processing continues without it.
func (ex *exchange) roundTrip(d direction, kind msgKind, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, *localReply) {
	pm, perr := ex.proc.send(d, kind, req)
	if perr == nil {
		var resp *extprocv3.ProcessingResponse
		if resp, perr = ex.proc.await(ex.ctx, pm, time.Time{}); perr == nil {
			return resp, nil
		}
	}
	return nil, ex.stopProc(perr)
}

// stopProc ends ext_proc processing after perr and returns Envoy's reply
// (nil: carry on without ext_proc).
func (ex *exchange) stopProc(perr *procError) *localReply {
	ex.proc.fail(perr)
	ex.takeAsyncReply() // answered synchronously by the caller instead
	return ex.procReply(ex.proc.err())
}

// bufferedRequestBody implements BUFFERED (partial=false) and
// BUFFERED_PARTIAL request bodies.
func (ex *exchange) bufferedRequestBody(partial bool) (*requestBody, *localReply) {
	limit := ex.p.cfg.Listener.BufferLimit
	data, err := io.ReadAll(io.LimitReader(ex.body, limit+1))
	if err != nil {
		return nil, &localReply{reset: true, flag: "DC", details: "downstream_remote_disconnect"}
	}
	var rest io.Reader
	if int64(len(data)) > limit {
		if !partial {
			ex.p.stats.inc(ex.p.httpStat("downstream_rq_too_large"))
			return nil, &localReply{status: http.StatusRequestEntityTooLarge, body: "Payload Too Large",
				details: "request_payload_too_large", viaFilters: true}
		}
		rest = io.MultiReader(bytes.NewReader(data[limit:]), ex.body)
		data = data[:limit]
	}
	resp, lr := ex.roundTrip(dirRequest, kindBody, bodyRequest(dirRequest, data, rest == nil))
	if lr != nil {
		return nil, lr
	}
	if resp != nil {
		var perr *procError
		if data, perr = ex.applyBodyAnswer(dirRequest, resp, ex.heldHeaders(dirRequest, ex.req), data, !partial); perr != nil {
			return nil, ex.stopProc(perr)
		}
	}
	if rest != nil {
		return &requestBody{stream: io.MultiReader(bytes.NewReader(data), rest)}, nil
	}
	return &requestBody{data: data}, nil
}

// streamedRequestBody pipelines client chunks through ext_proc while the
// router already talks to the upstream.
func (ex *exchange) streamedRequestBody() *requestBody {
	pr, pw := io.Pipe()
	chunks := make(chan streamChunk, chunkQueueLen)
	// The pump reads the client and is not waited for: only closing the
	// connection (after the handler returns) can unblock that read.
	go ex.pumpChunks(dirRequest, ex.body, chunks)
	ex.helpers.Add(1)
	go func() {
		defer ex.helpers.Done()
		pw.CloseWithError(ex.relayChunks(dirRequest, chunks, func(b []byte) error {
			_, err := pw.Write(b)
			return err
		}))
	}()
	ex.onRelease(func() { _ = pr.Close() })
	return &requestBody{stream: pr}
}

// heldHeaders returns h when the processor saw (and so may still mutate)
// the headers of direction d; with headers SKIP Envoy ignores header
// mutations in body answers.
func (ex *exchange) heldHeaders(d direction, h *headerMap) *headerMap {
	if !ex.mode.sendHeaders[d] {
		return nil
	}
	return h
}

func headersRequest(d direction, h *headerMap, eos bool) *extprocv3.ProcessingRequest {
	hh := &extprocv3.HttpHeaders{Headers: h.proto(), EndOfStream: eos}
	if d == dirRequest {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: hh}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: hh}}
}

func bodyRequest(d direction, data []byte, eos bool) *extprocv3.ProcessingRequest {
	b := &extprocv3.HttpBody{Body: data, EndOfStream: eos}
	if d == dirRequest {
		return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: b}}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{ResponseBody: b}}
}

// contentLength returns the content-length header, -1 when absent or bad.
func contentLength(h *headerMap) int64 {
	v, ok := h.get("content-length")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
