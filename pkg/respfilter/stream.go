package respfilter

import (
	"bytes"
	"fmt"

	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/sse"
)

type streamState int

const (
	// stateOpen forwards the provider's events, rewritten.
	stateOpen streamState = iota
	// stateEnded: a guardrail ended the client's stream, which still waits for
	// the provider's usage chunk before [DONE].
	stateEnded
	// stateDone: the client's stream is complete; provider bytes are only read
	// for usage.
	stateDone
)

// Stream rewrites one streamed (SSE) chat completion response. Feed it the
// response body chunk by chunk, as Envoy delivers it in STREAMED mode; events
// split across chunks are reassembled, so an event's bytes are forwarded when
// the event is complete. A Stream is not safe for concurrent use.
type Stream struct {
	opts    Options
	guarded bool
	parser  *sse.Parser
	state   streamState
	err     error

	// Identity of the stream, raw JSON, for the chunks the filter writes.
	id, created, model []byte
	choices            []*choiceState // by choice index

	usage    Usage
	usageRaw []byte
	hasUsage bool
	counted  int64
	outcome  Outcome

	clientModel []byte // ClientModel as a JSON string, nil if empty
	view        docView
	head        docHead
	es          []edit
	scratch     []byte
	out         []byte // what Process returns, reused by the next call
}

// choiceState is the guardrail state of one choice.
type choiceState struct {
	m          *guardrail.Matcher // nil without banned phrases
	l          *guardrail.Limiter // nil without caps
	flushed    bool               // the provider finished it: nothing is held
	finishSent bool               // the client got its finish_reason
}

// NewStream returns the filter for one streamed response.
func NewStream(opts Options) *Stream {
	s := &Stream{
		opts:    opts,
		guarded: opts.guarded(),
		parser:  sse.NewParser(sse.Options{MaxEventBytes: opts.MaxEventBytes}),
	}
	if opts.ClientModel != "" {
		s.clientModel = jsonString(opts.ClientModel)
		s.model = s.clientModel
	}
	return s
}

// maxKeptOutput bounds the output buffer a Stream keeps between chunks.
const maxKeptOutput = 64 << 10

// Process takes the next chunk of the provider's body and returns the bytes to
// send to the client in its place, possibly none (the caller must still
// replace the chunk). endOfStream marks the last chunk, which may be empty. An
// error (an oversized event, too many choices) is final: the response cannot
// be filtered and should be reset.
//
// The returned bytes are valid only until the next call to Process, which
// reuses their memory: the caller must copy them or be done with them (the
// ext_proc server marshals them into its gRPC answer before reading the next
// chunk). The chunk is not retained.
func (s *Stream) Process(chunk []byte, endOfStream bool) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := s.parser.Feed(chunk); err != nil {
		return nil, s.fail(err)
	}
	if endOfStream {
		s.parser.End()
	}
	if s.out == nil || cap(s.out) > maxKeptOutput {
		// Empty but not nil when nothing is sent, as before the reuse; and a
		// buffer one large event grew is not kept for the rest of the stream.
		s.out = make([]byte, 0, len(chunk)+len(chunk)/8+64)
	}
	out := s.out[:0]
	for {
		ev, ok, err := s.parser.Next()
		if err != nil {
			return nil, s.fail(err)
		}
		if !ok {
			break
		}
		if out, err = s.event(out, ev); err != nil {
			return nil, s.fail(err)
		}
	}
	if endOfStream {
		out = s.end(out)
	}
	s.out = out
	return out, nil
}

func (s *Stream) fail(err error) error {
	s.err = fmt.Errorf("respfilter: stream: %w", err)
	return s.err
}

// Usage returns the provider's usage, once its usage chunk was seen (even if
// it was not forwarded).
func (s *Stream) Usage() (Usage, bool) { return s.usage, s.hasUsage }

// CountedOutputTokens returns the output tokens counted from the streamed
// content, everything the provider sent including what was swallowed, for
// when the provider reports no usage.
func (s *Stream) CountedOutputTokens() int64 { return s.counted }

// Outcome reports what the guardrails did so far.
func (s *Stream) Outcome() Outcome {
	o := s.outcome
	for _, c := range s.choices {
		if c != nil && c.m != nil {
			o.Redactions += c.m.Redactions()
		}
	}
	return o
}

// event handles one complete SSE event.
func (s *Stream) event(out []byte, ev sse.Event) ([]byte, error) {
	if ev.HasData && bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
		return s.done(out, ev), nil
	}
	var doc string
	v := &s.view
	if ev.HasData {
		doc = string(ev.Data) // the matchers keep pieces of it
	}
	if !ev.HasData || !v.read(doc, "delta", &s.head) {
		if s.state == stateOpen {
			out = appendRaw(out, ev) // comments, keep-alives, unknown data
		}
		return out, nil
	}
	s.capture(v)
	if s.state != stateOpen {
		if s.state == stateEnded && s.hasUsage {
			out = s.appendUsageChunk(out)
			out = appendDone(out)
			s.state = stateDone
		}
		return out, nil
	}
	if v.usageOnly() && !s.opts.ClientWantsUsage {
		return out, nil // the gateway asked for it, not the client
	}
	es := modelEdits(s.es[:0], v, s.clientModel)
	if !s.opts.ClientWantsUsage && v.usage.IsObject() {
		es = append(es, replaceValue(v.usage, []byte("null")))
	}
	if !s.guarded {
		s.es = es
		return s.appendDoc(out, ev, doc, es), nil
	}
	return s.guard(out, ev, doc, v, es)
}

// capture records the stream identity, the usage and the output tokens.
func (s *Stream) capture(v *docView) {
	if s.id == nil && v.id.Exists() {
		s.id = []byte(v.id.Raw)
	}
	if s.created == nil && v.created.Exists() {
		s.created = []byte(v.created.Raw)
	}
	if s.model == nil && len(v.models) > 0 {
		s.model = []byte(v.models[len(v.models)-1].Raw)
	}
	if u, ok := parseUsage(v.usage); ok {
		s.usage, s.usageRaw, s.hasUsage = u, append(s.usageRaw[:0], v.usage.Raw...), true
	}
	for i := range v.list {
		s.counted += s.opts.count(v.list[i].text())
	}
}

// done handles the provider's [DONE].
func (s *Stream) done(out []byte, ev sse.Event) []byte {
	switch s.state {
	case stateOpen:
		var reason string
		out, reason = s.flushAll(out)
		if reason != "" {
			return s.closeEnded(s.endStream(out, reason))
		}
		out = appendRaw(out, ev)
		s.state = stateDone
	case stateEnded:
		out = s.closeEnded(out)
	}
	return out
}

// end handles the end of the provider's body.
func (s *Stream) end(out []byte) []byte {
	if s.state == stateOpen && s.guarded {
		var reason string
		out, reason = s.flushAll(out)
		if reason != "" {
			out = s.endStream(out, reason)
		}
	}
	return s.closeEnded(out)
}

// closeEnded completes a stream ended by a guardrail whose provider will send
// no usage any more.
func (s *Stream) closeEnded(out []byte) []byte {
	if s.state == stateEnded {
		out = appendDone(out)
		s.state = stateDone
	}
	return out
}

// appendDoc appends the event with doc edited, or as received without edits.
func (s *Stream) appendDoc(out []byte, ev sse.Event, doc string, es []edit) []byte {
	if len(es) == 0 {
		return appendRaw(out, ev)
	}
	if isPlainData(ev) {
		// What sse.AppendEvent writes for it, without the copy through
		// scratch: the edits are JSON values without line breaks.
		out = append(out, "data: "...)
		out = applyEdits(out, doc, es)
		return append(out, "\n\n"...)
	}
	s.scratch = applyEdits(s.scratch[:0], doc, es)
	return sse.AppendEvent(out, sse.Event{
		Type: ev.Type, ID: ev.ID, HasID: ev.HasID, Retry: ev.Retry, HasRetry: ev.HasRetry,
		Data: s.scratch, HasData: true,
	})
}

// appendRaw forwards an event byte for byte; an unterminated last event gets
// its blank line so that the client does not drop it.
func appendRaw(out []byte, ev sse.Event) []byte {
	out = append(out, ev.Raw...)
	if ev.Unterminated {
		out = append(out, "\n\n"...)
	}
	return out
}

func appendDone(out []byte) []byte {
	return append(out, "data: [DONE]\n\n"...)
}

// isPlainData reports an event of one data line and no other field, the
// shape providers send.
func isPlainData(ev sse.Event) bool {
	return ev.Type == "" && !ev.HasID && !ev.HasRetry && bytes.IndexByte(ev.Data, '\n') < 0
}
