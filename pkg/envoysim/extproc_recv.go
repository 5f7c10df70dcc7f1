package envoysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// The receiving side of a processing session: answers are matched to the
// oldest outstanding message of their direction, under per-message timers.

func (s *procSession) receive(stream extprocv3.ExternalProcessor_ProcessClient) {
	defer close(s.recvDone)
	for {
		resp, err := stream.Recv()
		if err != nil {
			s.onRecvError(err)
			return
		}
		s.dispatch(resp)
	}
}

func (s *procSession) onRecvError(err error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return
	case errors.Is(err, io.EOF):
		s.fail(&procError{kind: procClosedOK, detail: "server closed the stream"})
	case s.parent.Err() != nil:
		s.fail(&procError{kind: procCancelled, detail: "downstream went away"})
	default:
		s.p.stats.inc(s.p.extProcStat("streams_failed"))
		s.fail(&procError{kind: procGRPCError, code: status.Code(err), detail: status.Convert(err).Message()})
	}
}

// dispatch matches an answer against the oldest outstanding message of its
// direction, like Envoy's per-direction callback state.
func (s *procSession) dispatch(resp *extprocv3.ProcessingResponse) {
	s.mu.Lock()
	if s.failure != nil || s.closed {
		s.mu.Unlock()
		return
	}
	if ot := resp.GetOverrideMessageTimeout(); ot != nil {
		s.extendLocked(ot.AsDuration())
		s.mu.Unlock()
		return
	}
	var perr *procError
	switch resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		perr = s.deliverLocked(dirRequest, kindHeaders, resp)
	case *extprocv3.ProcessingResponse_RequestBody:
		perr = s.deliverLocked(dirRequest, kindBody, resp)
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		perr = s.deliverLocked(dirResponse, kindHeaders, resp)
	case *extprocv3.ProcessingResponse_ResponseBody:
		perr = s.deliverLocked(dirResponse, kindBody, resp)
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		if s.cfg.DisableImmediateResponse {
			perr = &procError{kind: procSpurious, detail: "immediate response disabled by config"}
		} else {
			s.keepMetadataLocked(resp)
			perr = &procError{kind: procImmediate, immediate: resp.GetImmediateResponse()}
		}
	default:
		perr = &procError{kind: procSpurious, detail: fmt.Sprintf("unexpected answer %T", resp.GetResponse())}
	}
	s.mu.Unlock()
	if perr != nil {
		s.fail(perr)
	}
}

func (s *procSession) deliverLocked(d direction, kind msgKind, resp *extprocv3.ProcessingResponse) *procError {
	q := s.pending[d]
	if len(q) == 0 || q[0].kind != kind {
		return &procError{kind: procSpurious, detail: fmt.Sprintf("spurious %s answer %T", d, resp.GetResponse())}
	}
	s.pending[d] = q[1:]
	s.keepMetadataLocked(resp)
	q[0].answer <- resp
	s.p.stats.inc(s.p.extProcStat("stream_msgs_received"))
	return nil
}

// keepMetadataLocked keeps dynamic_metadata of the receiving namespaces for
// the access log.
func (s *procSession) keepMetadataLocked(resp *extprocv3.ProcessingResponse) {
	for ns, v := range resp.GetDynamicMetadata().GetFields() {
		for _, allowed := range s.cfg.ReceivingNamespaces {
			if ns == allowed && v.GetStructValue() != nil {
				if s.metadata == nil {
					s.metadata = map[string]*structpb.Struct{}
				}
				s.metadata[ns] = v.GetStructValue()
			}
		}
	}
}

// extendLocked honours override_message_timeout once per outstanding message,
// within [1ms, max_message_timeout].
func (s *procSession) extendLocked(d time.Duration) {
	if s.cfg.MaxMessageTimeout <= 0 || d < time.Millisecond || d > s.cfg.MaxMessageTimeout {
		s.p.stats.inc(s.p.extProcStat("override_message_timeout_ignored"))
		return
	}
	for _, q := range s.pending {
		if len(q) > 0 && !q[0].extended {
			q[0].extended = true
			q[0].extend <- d
			s.p.stats.inc(s.p.extProcStat("override_message_timeout_received"))
			return
		}
	}
	s.p.stats.inc(s.p.extProcStat("override_message_timeout_ignored"))
}

// await blocks until pm is answered. The message timer starts when pm was
// sent or when the previous answer of the direction arrived (waitStart),
// whichever is later, as Envoy restarts its per-direction timer.
func (s *procSession) await(ctx context.Context, pm *pendingMsg, waitStart time.Time) (*extprocv3.ProcessingResponse, *procError) {
	start := pm.sentAt
	if waitStart.After(start) {
		start = waitStart
	}
	timer := s.p.clock.After(s.timeout - s.p.clock.Now().Sub(start))
	for {
		select {
		case resp := <-pm.answer:
			return resp, nil
		case <-s.failed:
			select {
			case resp := <-pm.answer:
				return resp, nil
			default:
			}
			return nil, s.err()
		case d := <-pm.extend:
			timer = s.p.clock.After(d)
		case <-timer:
			s.fail(&procError{kind: procTimeout, detail: "per-message timeout exceeded"})
			return nil, s.err()
		case <-ctx.Done():
			s.fail(&procError{kind: procCancelled, detail: "downstream went away"})
			return nil, s.err()
		}
	}
}
