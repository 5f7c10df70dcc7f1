package respfilter

import (
	"fmt"
	"strconv"

	"github.com/llm-gateway/gateway/pkg/sse"
)

const (
	reasonContentFilter = "content_filter"
	reasonLength        = "length"
)

// guard applies the output guardrails to one chunk and appends what the client
// gets: the chunk with each choice's content replaced by what is safe to show
// now, preceded by a content chunk when held text is released on a choice
// whose chunk has no content field, and followed by the end of the stream when
// a guardrail ends it.
func (s *Stream) guard(out []byte, ev sse.Event, doc string, v *docView, es []edit) ([]byte, error) {
	var pre []byte
	var finishing []*choiceState
	reason := ""
	for i := range v.list {
		c := &v.list[i]
		es = blankShadowed(es, c)
		if reason != "" { // ended by an earlier choice of this chunk
			es = contentEdits(es, c, "")
			es = nullFinish(es, c)
			continue
		}
		cs, err := s.choice(c.index)
		if err != nil {
			return out, err
		}
		text := c.text()
		safe, r := s.pipe(cs, text, c.finished())
		switch {
		case safe == text:
		case len(c.contents) > 0:
			es = contentEdits(es, c, safe)
		default:
			pre = s.appendContentChunk(pre, c.index, safe)
		}
		if r != "" {
			reason = r
			es = nullFinish(es, c)
		} else if c.finished() {
			finishing = append(finishing, cs)
		}
	}
	for _, sh := range v.shadowed {
		es = append(es, replaceValue(sh, []byte("[]")))
	}
	s.es = es
	out = append(out, pre...)
	out = s.appendDoc(out, ev, doc, es)
	for _, cs := range finishing {
		cs.finishSent = true
	}
	if reason != "" {
		out = s.endStream(out, reason)
	}
	return out, nil
}

// choice returns the state of choice i, created on first use.
func (s *Stream) choice(i int64) (*choiceState, error) {
	if i < 0 || i >= maxChoices {
		return nil, fmt.Errorf("%w: %d", ErrTooManyChoices, i)
	}
	for int64(len(s.choices)) <= i {
		s.choices = append(s.choices, nil)
	}
	if s.choices[i] == nil {
		cs := &choiceState{}
		if p := s.opts.Policy; p.HasBanned() {
			cs.m = p.NewMatcher()
		}
		if p := s.opts.Policy; p.HasLimits() {
			cs.l = p.NewLimiter()
		}
		s.choices[i] = cs
	}
	return s.choices[i], nil
}

// pipe runs a content delta through the choice's matcher then limiter; final
// flushes the matcher. reason is set when a guardrail ends the output.
func (s *Stream) pipe(cs *choiceState, text string, final bool) (out, reason string) {
	out = text
	if cs.m != nil {
		var stopped bool
		out, stopped = cs.m.Feed(text)
		if final && !stopped {
			var tail string
			tail, stopped = cs.m.Flush()
			out += tail
		}
		if stopped {
			reason = reasonContentFilter
			s.outcome.ContentFiltered = true
			s.outcome.Violation, _ = cs.m.Violation()
		}
	}
	cs.flushed = final
	if cs.l != nil {
		var hit bool
		if out, hit = cs.l.Take(out); hit && reason == "" {
			reason = reasonLength
			s.outcome.Truncated = true
		}
	}
	return out, reason
}

// flushAll releases the text still held for choices the provider did not
// finish, when its stream ends.
func (s *Stream) flushAll(out []byte) ([]byte, string) {
	for i, cs := range s.choices {
		if cs == nil || cs.flushed {
			continue
		}
		text, reason := s.pipe(cs, "", true)
		if text != "" {
			out = s.appendContentChunk(out, int64(i), text)
		}
		if reason != "" {
			return out, reason
		}
	}
	return out, ""
}

// endStream ends the client's stream for a guardrail: a finish chunk for each
// choice, the usage chunk when the client wants it (now if known, else when
// the provider sends it), and [DONE].
func (s *Stream) endStream(out []byte, reason string) []byte {
	for i, cs := range s.choices {
		if cs != nil && !cs.finishSent {
			out = s.appendFinishChunk(out, int64(i), reason)
			cs.finishSent = true
		}
	}
	switch {
	case !s.opts.ClientWantsUsage:
	case s.hasUsage:
		out = s.appendUsageChunk(out)
	default:
		s.state = stateEnded
		return out
	}
	s.state = stateDone
	return appendDone(out)
}

func nullFinish(es []edit, c *choiceView) []edit {
	for _, f := range c.finish {
		es = append(es, replaceValue(f, []byte("null")))
	}
	return es
}

// appendChunkStart appends the start of a chunk the filter writes, with the
// stream's id, created and model so that clients see one stream.
func (s *Stream) appendChunkStart(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendOr(b, s.id, `""`)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = appendOr(b, s.created, `0`)
	b = append(b, `,"model":`...)
	return appendOr(b, s.model, `""`)
}

func (s *Stream) appendContentChunk(out []byte, index int64, text string) []byte {
	b := s.appendChunkStart(s.scratch[:0])
	b = append(b, `,"choices":[{"index":`...)
	b = strconv.AppendInt(b, index, 10)
	b = append(b, `,"delta":{"content":`...)
	b = appendJSONString(b, text)
	b = append(b, `},"finish_reason":null}]}`...)
	s.scratch = b
	return sse.AppendData(out, b)
}

func (s *Stream) appendFinishChunk(out []byte, index int64, reason string) []byte {
	b := s.appendChunkStart(s.scratch[:0])
	b = append(b, `,"choices":[{"index":`...)
	b = strconv.AppendInt(b, index, 10)
	b = append(b, `,"delta":{},"finish_reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `}]}`...)
	s.scratch = b
	return sse.AppendData(out, b)
}

func (s *Stream) appendUsageChunk(out []byte) []byte {
	b := s.appendChunkStart(s.scratch[:0])
	b = append(b, `,"choices":[],"usage":`...)
	b = append(b, s.usageRaw...)
	b = append(b, '}')
	s.scratch = b
	return sse.AppendData(out, b)
}

func appendOr(b, v []byte, def string) []byte {
	if v == nil {
		return append(b, def...)
	}
	return append(b, v...)
}
