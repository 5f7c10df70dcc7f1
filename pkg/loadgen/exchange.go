package loadgen

import (
	"errors"
	"io"
	"time"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/status"
)

// phase names the message a latency was measured on.
type phase int

const (
	phaseRequestHeaders phase = iota
	phaseRequestBody
	phaseResponseHeaders
	phaseResponseBody  // the whole body in one BUFFERED message
	phaseResponseChunk // one STREAMED body message
	numPhases
)

func (p phase) String() string {
	switch p {
	case phaseRequestHeaders:
		return "request_headers"
	case phaseRequestBody:
		return "request_body"
	case phaseResponseHeaders:
		return "response_headers"
	case phaseResponseBody:
		return "response_body"
	case phaseResponseChunk:
		return "response_chunk"
	}
	return "unknown"
}

// mode is the processing mode in force on one stream.
type mode struct {
	reqBody, respBody filterv3.ProcessingMode_BodySendMode
	respHeaders       filterv3.ProcessingMode_HeaderSendMode
}

// override applies a mode_override the way Envoy does: header mode DEFAULT
// leaves it unchanged, body modes are copied as given (unset means NONE), and
// FULL_DUPLEX_STREAMED cannot be switched to.
func (m *mode) override(o *filterv3.ProcessingMode) {
	if o == nil || o.GetRequestBodyMode() == filterv3.ProcessingMode_FULL_DUPLEX_STREAMED ||
		o.GetResponseBodyMode() == filterv3.ProcessingMode_FULL_DUPLEX_STREAMED {
		return
	}
	if o.GetResponseHeaderMode() != filterv3.ProcessingMode_DEFAULT {
		m.respHeaders = o.GetResponseHeaderMode()
	}
	m.reqBody = o.GetRequestBodyMode()
	m.respBody = o.GetResponseBodyMode()
}

// outcome is how one request ended.
type outcome struct {
	status   int    // HTTP status of an immediate response, 0 if none
	err      string // error kind, "" if none
	streamed bool   // the response body went STREAMED
	chunks   int    // SSE token events delivered to the server
}

func (o outcome) stopped() bool { return o.status != 0 || o.err != "" }

// exchange plays one request on one stream. It is reused by its worker.
type exchange struct {
	s       extprocv3.ExternalProcessor_ProcessClient
	t       *template
	rec     *recorder
	now     func() time.Time
	slow    time.Duration
	pending []time.Time // send times of pipelined chunks, a ring
}

// play sends the phases in Envoy's order and stops at the first immediate
// response or failure.
func (x *exchange) play(id string) outcome {
	m := baseMode()
	resp, o := x.roundTrip(phaseRequestHeaders, x.t.requestHeaders(id))
	if o.stopped() {
		return o
	}
	m.override(resp.GetModeOverride())
	if !replaced(resp.GetRequestHeaders().GetResponse()) && m.reqBody != filterv3.ProcessingMode_NONE {
		if _, o = x.roundTrip(phaseRequestBody, x.t.reqBody); o.stopped() {
			return o
		}
	}
	if m.respHeaders != filterv3.ProcessingMode_SKIP {
		if resp, o = x.roundTrip(phaseResponseHeaders, x.t.respHeaders); o.stopped() {
			return o
		}
		m.override(resp.GetModeOverride())
		if replaced(resp.GetResponseHeaders().GetResponse()) {
			return o
		}
	}
	switch m.respBody {
	case filterv3.ProcessingMode_NONE:
		return o
	case filterv3.ProcessingMode_STREAMED:
		if len(x.t.chunks) > 0 {
			return x.streamBody()
		}
	}
	_, o = x.roundTrip(phaseResponseBody, x.t.bufferedBody)
	if !o.stopped() {
		o.chunks = x.t.tokenChunks
	}
	return o
}

// replaced reports CONTINUE_AND_REPLACE, after which Envoy sends no more body
// for that direction.
func replaced(c *extprocv3.CommonResponse) bool {
	return c.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
}

func (x *exchange) roundTrip(p phase, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, outcome) {
	start := x.now()
	if err := x.s.Send(req); err != nil {
		return nil, x.sendFailed(err)
	}
	resp, err := x.s.Recv()
	if err != nil {
		return nil, outcome{err: recvErrKind(err)}
	}
	x.observe(p, x.now().Sub(start))
	return resp, classify(p, resp)
}

// streamBody sends the SSE events as STREAMED chunks without waiting for each
// answer, at most len(pending) ahead, and reads the answers in order.
func (x *exchange) streamBody() outcome {
	msgs, window := x.t.chunks, len(x.pending)
	o := outcome{streamed: true}
	sent := 0
	for done := 0; done < len(msgs); done++ {
		for sent < len(msgs) && sent-done < window {
			x.pending[sent%window] = x.now()
			if err := x.s.Send(msgs[sent]); err != nil {
				f := x.sendFailed(err)
				f.streamed, f.chunks = true, min(done, x.t.tokenChunks)
				return f
			}
			sent++
		}
		resp, err := x.s.Recv()
		if err != nil {
			return outcome{err: recvErrKind(err), streamed: true, chunks: min(done, x.t.tokenChunks)}
		}
		x.observe(phaseResponseChunk, x.now().Sub(x.pending[done%window]))
		if c := classify(phaseResponseBody, resp); c.stopped() {
			c.streamed, c.chunks = true, min(done+1, x.t.tokenChunks)
			return c
		}
	}
	o.chunks = x.t.tokenChunks
	return o
}

func (x *exchange) observe(p phase, d time.Duration) {
	x.rec.phases[p].record(d)
	if d > x.slow {
		x.rec.slowAnswers++
	}
}

// sendFailed turns a failed Send into the stream's real error: gRPC reports
// io.EOF from Send and keeps the status for Recv.
func (x *exchange) sendFailed(err error) outcome {
	if errors.Is(err, io.EOF) {
		if _, rerr := x.s.Recv(); rerr != nil {
			return outcome{err: recvErrKind(rerr)}
		}
		return outcome{err: "closed_early"}
	}
	return outcome{err: recvErrKind(err)}
}

// recvErrKind names a stream failure: the server ending the stream with OK
// before the sequence is over (Envoy carries on without it), or a gRPC status.
func recvErrKind(err error) string {
	if errors.Is(err, io.EOF) {
		return "closed_early"
	}
	return "grpc_" + status.Code(err).String()
}

// classify checks an answer is the one Envoy expects for the message sent.
// A mismatched answer is what fail-closed Envoy turns into a 500.
func classify(p phase, resp *extprocv3.ProcessingResponse) outcome {
	var ok bool
	switch r := resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		code := int(r.ImmediateResponse.GetStatus().GetCode())
		if code < 200 { // Envoy's rule for unset or informational codes
			code = 200
		}
		return outcome{status: code}
	case *extprocv3.ProcessingResponse_RequestHeaders:
		ok = p == phaseRequestHeaders
	case *extprocv3.ProcessingResponse_RequestBody:
		ok = p == phaseRequestBody
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		ok = p == phaseResponseHeaders
	case *extprocv3.ProcessingResponse_ResponseBody:
		ok = p == phaseResponseBody || p == phaseResponseChunk
	}
	if !ok {
		return outcome{err: "spurious_answer"}
	}
	return outcome{}
}
