package guardrail

import (
	"strings"
	"unicode/utf8"
)

// Matcher applies a policy's banned phrases to one output stream (one choice of
// one response), delta by delta. It holds back only a tail that could still
// become a banned phrase (or decide one's word boundary) and releases it with a
// later delta or Flush. It works on whole strings, so it never splits a UTF-8
// character. A Matcher is not safe for concurrent use.
type Matcher struct {
	p          *Policy
	pending    string    // original text received but not released
	prev       rune      // last normalised rune released, -1 at the start
	norm       *normText // nil until needed; from the policy's pool when pooled
	pooled     bool      // made by NewCheckMatcher: Release returns norm
	ms         []match
	stopped    bool
	violation  Violation
	redactions int
}

// NewMatcher returns a matcher for one output stream. Release is optional.
func (p *Policy) NewMatcher() *Matcher {
	return &Matcher{p: p, prev: -1}
}

// NewCheckMatcher is NewMatcher for a short-lived check of complete text: its
// buffers come from the policy's pool, so the caller must Release it. (A
// streamed matcher lives as long as its response and keeps buffers of its own,
// sized to its deltas, rather than a pooled one sized to the largest text the
// policy has seen.)
func (p *Policy) NewCheckMatcher() *Matcher {
	return &Matcher{p: p, prev: -1, pooled: true}
}

// Feed adds a delta and returns the text safe to emit now. stopped is true once
// a banned phrase triggered ActionStop: the text returned then ends right
// before the phrase, and later calls return nothing.
func (m *Matcher) Feed(delta string) (out string, stopped bool) {
	return m.step(delta, false)
}

// Flush ends the stream and returns the text still held back, checked.
func (m *Matcher) Flush() (out string, stopped bool) {
	return m.step("", true)
}

// Release hands the matcher's normalisation buffers back to its policy, for
// later matchers (and prompt checks) to reuse: a matcher over a long text
// otherwise leaves them to the garbage collector. Call it when done; a
// matcher used again after Release takes new buffers.
func (m *Matcher) Release() {
	if m.pooled && m.norm != nil {
		m.p.putText(m.norm)
		m.norm = nil
	}
}

// Held returns how many bytes of output are held back.
func (m *Matcher) Held() int { return len(m.pending) }

// Redactions returns how many phrases were redacted so far.
func (m *Matcher) Redactions() int { return m.redactions }

// Violation returns the rule that stopped the output, if it stopped.
func (m *Matcher) Violation() (Violation, bool) { return m.violation, m.stopped }

func (m *Matcher) step(delta string, final bool) (string, bool) {
	if m.stopped {
		return "", true
	}
	if m.p.trie.empty() {
		return delta, false
	}
	text := delta
	if m.pending != "" {
		text = m.pending + delta
	}
	if text == "" {
		return "", false
	}
	if m.norm == nil {
		m.norm = &normText{}
		if m.pooled {
			m.norm = m.p.text()
		}
	}
	m.p.fold.normalize(m.norm, text)
	st := scanState{prev: m.prev, final: final, firstOnly: m.p.action == ActionStop}
	var hold int
	m.ms, hold = m.p.trie.scan(m.norm, st, m.ms[:0])
	if st.firstOnly && len(m.ms) > 0 {
		return m.stop(text)
	}
	safe := len(text)
	if hold >= 0 {
		safe = int(m.norm.src[hold].start)
		if len(text)-safe > m.p.maxHold {
			safe, hold = len(text), -1 // bounded memory wins; see Options.MaxHoldBytes
		}
	}
	if hold < 0 {
		hold = len(m.norm.b)
	}
	if hold > 0 {
		m.prev, _ = utf8.DecodeLastRune(m.norm.b[:hold])
	}
	m.pending = text[safe:]
	if len(m.ms) == 0 {
		return text[:safe], false
	}
	return m.redact(text[:safe]), false
}

// redact replaces the matches found by the last scan in the released text.
func (m *Matcher) redact(text string) string {
	var b strings.Builder
	b.Grow(len(text) + len(m.ms)*len(m.p.redaction))
	last := 0
	for _, mt := range m.ms {
		start, end := int(m.norm.src[mt.start].start), int(m.norm.src[mt.end-1].end)
		b.WriteString(text[last:start])
		b.WriteString(m.p.redaction)
		last = end
	}
	b.WriteString(text[last:])
	m.redactions += len(m.ms)
	return b.String()
}

// stop ends the stream at the first match found by the last scan.
func (m *Matcher) stop(text string) (string, bool) {
	mt := m.ms[0]
	m.stopped = true
	m.violation = Violation{Rule: mt.rule, Message: -1}
	m.pending = ""
	return text[:m.norm.src[mt.start].start], true
}

// Apply checks a complete text (a non-streamed response) and returns it
// redacted, or cut before the first banned phrase when stopped is true.
func (p *Policy) Apply(text string) (out string, stopped bool, v Violation) {
	m := p.NewCheckMatcher()
	defer m.Release()
	out, stopped = m.Feed(text)
	if !stopped {
		var tail string
		tail, stopped = m.Flush()
		out += tail
	}
	v, _ = m.Violation()
	return out, stopped, v
}
