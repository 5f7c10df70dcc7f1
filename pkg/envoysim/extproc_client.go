package envoysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// procErrKind classifies why ext_proc processing stopped for a request.
type procErrKind int

const (
	// procClosedOK: the server ended the stream with OK; Envoy carries on without it.
	procClosedOK procErrKind = iota + 1
	// procGRPCError: the stream could not open or closed with a non-OK status.
	procGRPCError
	// procTimeout: no answer within message_timeout.
	procTimeout
	// procSpurious: an answer of the wrong kind or with nothing outstanding.
	procSpurious
	// procImmediate: the server sent an immediate_response.
	procImmediate
	// procInvalid: a rejected mutation or inconsistent answer (status_on_error).
	procInvalid
	// procCancelled: the downstream went away.
	procCancelled
)

// procError is the terminal state of a processing session.
type procError struct {
	kind      procErrKind
	code      codes.Code
	immediate *extprocv3.ImmediateResponse
	detail    string
}

func (e *procError) Error() string {
	switch e.kind {
	case procImmediate:
		return "ext_proc: immediate response"
	case procGRPCError:
		return fmt.Sprintf("ext_proc: gRPC error %s: %s", e.code, e.detail)
	default:
		return "ext_proc: " + e.detail
	}
}

type msgKind int

const (
	kindHeaders msgKind = iota
	kindBody
)

// pendingMsg is one message sent and awaiting its answer.
type pendingMsg struct {
	kind   msgKind
	sentAt time.Time
	answer chan *extprocv3.ProcessingResponse
	extend chan time.Duration
	// extended is set once override_message_timeout was honoured.
	extended bool
}

// procSession is the single ext_proc stream of one HTTP request, opened
// lazily on the first message.
type procSession struct {
	p       *Proxy
	cfg     *ExtProc
	timeout time.Duration
	parent  context.Context
	// onFailure runs once when processing stops abnormally, from whichever
	// goroutine noticed, so the exchange can stop upstream work.
	onFailure func(*procError)

	sendMu sync.Mutex

	mu        sync.Mutex
	stream    extprocv3.ExternalProcessor_ProcessClient
	cancel    context.CancelFunc
	recvDone  chan struct{}
	pending   [2][]*pendingMsg
	failed    chan struct{}
	failure   *procError
	sentFirst bool
	closed    bool
	metadata  map[string]*structpb.Struct
}

func newProcSession(p *Proxy, parent context.Context, onFailure func(*procError)) *procSession {
	return &procSession{
		p: p, cfg: p.cfg.Listener.ExtProc, timeout: p.messageTimeout, parent: parent,
		onFailure: onFailure, failed: make(chan struct{}),
	}
}

// active reports whether messages may still be exchanged.
func (s *procSession) active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure == nil && !s.closed
}

// err returns the terminal failure, nil while processing is active.
func (s *procSession) err() *procError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// send transmits one message expecting an answer in direction d.
func (s *procSession) send(d direction, kind msgKind, req *extprocv3.ProcessingRequest) (*pendingMsg, *procError) {
	s.mu.Lock()
	if s.failure != nil || s.closed {
		defer s.mu.Unlock()
		return nil, s.terminalLocked()
	}
	if s.stream == nil {
		if perr := s.openLocked(); perr != nil {
			s.mu.Unlock()
			s.fail(perr)
			return nil, s.err()
		}
	}
	if !s.sentFirst {
		s.sentFirst = true
		req.ProtocolConfig = &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  s.cfg.Mode.GetRequestBodyMode(),
			ResponseBodyMode: s.cfg.Mode.GetResponseBodyMode(),
		}
	}
	req.MetadataContext = &corev3.Metadata{}
	pm := &pendingMsg{kind: kind, sentAt: s.p.clock.Now(), answer: make(chan *extprocv3.ProcessingResponse, 1), extend: make(chan time.Duration, 1)}
	s.pending[d] = append(s.pending[d], pm)
	stream := s.stream
	s.mu.Unlock()

	s.sendMu.Lock()
	err := stream.Send(req)
	s.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// io.EOF means the stream broke; Recv reports the real status.
		s.fail(&procError{kind: procGRPCError, code: status.Code(err), detail: err.Error()})
	}
	s.p.stats.inc(s.p.extProcStat("stream_msgs_sent"))
	return pm, nil
}

func (s *procSession) terminalLocked() *procError {
	if s.failure != nil {
		return s.failure
	}
	return &procError{kind: procClosedOK, detail: "stream closed"}
}

func (s *procSession) openLocked() *procError {
	ctx, cancel := context.WithCancel(s.parent)
	if s.cfg.StreamTimeout > 0 {
		ctx, cancel = context.WithTimeout(s.parent, s.cfg.StreamTimeout)
	}
	stream, err := s.p.procClient.Process(ctx)
	if err != nil {
		cancel()
		s.p.stats.inc(s.p.extProcStat("streams_failed"))
		return &procError{kind: procGRPCError, code: status.Code(err), detail: err.Error()}
	}
	s.p.stats.inc(s.p.extProcStat("streams_started"))
	s.stream, s.cancel, s.recvDone = stream, cancel, make(chan struct{})
	go s.receive(stream)
	return nil
}

// fail records the first terminal failure, counts it, resets the stream for
// failures Envoy resets on, and notifies the exchange.
func (s *procSession) fail(e *procError) {
	s.mu.Lock()
	if s.failure != nil || s.closed {
		s.mu.Unlock()
		return
	}
	s.failure = e
	close(s.failed)
	s.mu.Unlock()
	s.countFailure(e)
	if e.kind != procCancelled {
		s.closeStream()
	}
	if s.onFailure != nil {
		s.onFailure(e)
	}
}

func (s *procSession) countFailure(e *procError) {
	st := s.p.stats
	switch e.kind {
	case procTimeout:
		st.inc(s.p.extProcStat("message_timeouts"))
	case procSpurious:
		st.inc(s.p.extProcStat("spurious_msgs_received"))
	case procImmediate:
		st.inc(s.p.extProcStat("stream_msgs_received"))
	}
	if s.cfg.FailureModeAllow && (e.kind == procTimeout || e.kind == procGRPCError || e.kind == procSpurious) {
		st.inc(s.p.extProcStat("failure_mode_allowed"))
	}
}

// close ends the stream the way Envoy's filter destruction does: half-close,
// then reset, so the server sees its context cancelled. It waits for the
// receiving goroutine, so it must not run on it.
func (s *procSession) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	done := s.recvDone
	s.mu.Unlock()
	s.closeStream()
	if done != nil {
		<-done
	}
}

// closeStream resets the stream without waiting for the receiver, so that
// fail can call it from the receiving goroutine.
func (s *procSession) closeStream() {
	s.mu.Lock()
	stream, cancel := s.stream, s.cancel
	s.stream = nil
	s.mu.Unlock()
	if stream == nil {
		return
	}
	// CloseSend may not race a Send; a sender stuck on flow control is
	// unblocked by the reset instead.
	if s.sendMu.TryLock() {
		_ = stream.CloseSend()
		s.sendMu.Unlock()
	}
	cancel()
	s.p.stats.inc(s.p.extProcStat("streams_closed"))
}

// dynamicMetadata returns what the processor published for the access log.
func (s *procSession) dynamicMetadata() map[string]*structpb.Struct {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metadata
}
