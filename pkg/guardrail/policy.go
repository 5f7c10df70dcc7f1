// Package guardrail checks prompts and model output against a content policy:
// banned words and phrases (matched whole-word on a normalised form that
// defeats look-alike spellings) and output length caps. Output is checked
// incrementally, so a phrase split across streamed deltas is still caught
// while only the few characters that could still complete a phrase are held.
package guardrail

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Action is what happens when model output contains a banned phrase.
type Action string

const (
	// ActionRedact replaces each banned phrase with the redaction text.
	ActionRedact Action = "redact"
	// ActionStop cuts the output right before the first banned phrase and ends
	// the response (finish_reason "content_filter").
	ActionStop Action = "stop"
)

// DefaultRedaction replaces banned phrases when Options.Redaction is empty.
const DefaultRedaction = "[redacted]"

// DefaultMaxHoldBytes bounds the output held back while a phrase may still
// complete, when Options.MaxHoldBytes is zero.
const DefaultMaxHoldBytes = 4096

// Options configures a Policy.
type Options struct {
	// Banned lists words and phrases. Each matches whole words only ("ass"
	// does not match "class"), after normalisation, and its spaces match any
	// run of white space.
	Banned []string
	// Action for output; empty means ActionRedact. Prompts are always rejected.
	Action Action
	// Redaction replaces a phrase under ActionRedact; empty means DefaultRedaction.
	Redaction string
	// MaxChars caps output characters (Unicode code points); 0 means no cap.
	MaxChars int
	// MaxTokens caps output tokens as counted by CountTokens; 0 means no cap.
	MaxTokens int
	// CountTokens counts the tokens of a piece of text; required with MaxTokens.
	CountTokens func(string) int
	// Leetspeak also folds digits and @/$ into letters (h3ll0 -> hello). It
	// catches more spellings and makes numbers look like words, so it is off by
	// default.
	Leetspeak bool
	// FoldAccents strips every accent (bánned -> banned). Off by default since
	// accents tell words apart in many languages; decorative marks that do not
	// form a letter are always stripped.
	FoldAccents bool
	// MaxHoldBytes bounds the output held back while a phrase may complete. Text
	// that keeps a phrase open longer (kilobytes of spaces or invisible characters
	// between its words) is released unchecked: memory stays bounded. 0 means
	// DefaultMaxHoldBytes.
	MaxHoldBytes int
}

// Policy is a compiled content policy. It is immutable and safe for concurrent
// use; the per-response state lives in Matcher and Limiter.
type Policy struct {
	fold      folder
	trie      *trie
	action    Action
	redaction string
	maxChars  int
	maxTokens int
	count     func(string) int
	maxHold   int
	// texts recycles normalisation buffers across CheckPrompt calls and
	// released matchers.
	texts sync.Pool
}

// New compiles opts, reporting every problem at once.
func New(opts Options) (*Policy, error) {
	p := &Policy{
		fold:      folder{leet: opts.Leetspeak, foldAccents: opts.FoldAccents},
		trie:      newTrie(),
		action:    opts.Action,
		redaction: opts.Redaction,
		maxChars:  opts.MaxChars,
		maxTokens: opts.MaxTokens,
		count:     opts.CountTokens,
		maxHold:   opts.MaxHoldBytes,
	}
	if p.action == "" {
		p.action = ActionRedact
	}
	if p.redaction == "" {
		p.redaction = DefaultRedaction
	}
	if p.maxHold == 0 {
		p.maxHold = DefaultMaxHoldBytes
	}
	var errs []error
	if p.action != ActionRedact && p.action != ActionStop {
		errs = append(errs, fmt.Errorf("guardrail: action %q: want %q or %q", opts.Action, ActionRedact, ActionStop))
	}
	if opts.MaxChars < 0 || opts.MaxTokens < 0 || opts.MaxHoldBytes < 0 {
		errs = append(errs, errors.New("guardrail: negative limit"))
	}
	if opts.MaxTokens > 0 && opts.CountTokens == nil {
		errs = append(errs, errors.New("guardrail: max tokens needs a token counter"))
	}
	var t normText
	for i, phrase := range opts.Banned {
		p.fold.normalize(&t, phrase)
		norm := strings.TrimSpace(string(t.b))
		if norm == "" {
			errs = append(errs, fmt.Errorf("guardrail: banned phrase #%d is empty after normalisation", i))
			continue
		}
		p.trie.add(norm, i)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Action returns the output action.
func (p *Policy) Action() Action { return p.action }

// HasBanned reports whether the policy bans any phrase.
func (p *Policy) HasBanned() bool { return !p.trie.empty() }

// HasLimits reports whether the policy caps output length.
func (p *Policy) HasLimits() bool { return p.maxChars > 0 || p.maxTokens > 0 }

// Normalize returns the form text is matched in (see the folding steps on
// Options); useful to test what a phrase becomes.
func (p *Policy) Normalize(s string) string {
	var t normText
	p.fold.normalize(&t, s)
	return string(t.b)
}

// Violation identifies the rule a text broke without repeating the text, so
// that it can be logged and returned to clients safely.
type Violation struct {
	// Rule is the index of the phrase in Options.Banned.
	Rule int
	// Message is the index of the offending text given to CheckPrompt; -1 for
	// output.
	Message int
}

// String describes the violation by rule index only.
func (v Violation) String() string {
	if v.Message < 0 {
		return fmt.Sprintf("banned phrase rule %d in output", v.Rule)
	}
	return fmt.Sprintf("banned phrase rule %d in message %d", v.Rule, v.Message)
}

// text returns normalisation buffers from the pool, or new ones.
func (p *Policy) text() *normText {
	if t, ok := p.texts.Get().(*normText); ok {
		return t
	}
	return &normText{}
}

// maxPooledText bounds the input size whose buffers go back to the pool
// (they take about 10 bytes per input byte): one huge prompt must not pin
// megabytes for the life of the process.
const maxPooledText = 64 << 10

// putText returns t to the pool unless it grew past maxPooledText.
func (p *Policy) putText(t *normText) {
	if cap(t.b) <= maxPooledText {
		p.texts.Put(t)
	}
}

// CheckPrompt reports the first banned phrase in the request's message texts.
func (p *Policy) CheckPrompt(texts []string) (Violation, bool) {
	if p.trie.empty() {
		return Violation{}, false
	}
	t := p.text()
	defer p.putText(t)
	var buf [1]match
	for i, text := range texts {
		p.fold.normalize(t, text)
		ms, _ := p.trie.scan(t, scanState{prev: -1, final: true, firstOnly: true}, buf[:0])
		if len(ms) > 0 {
			return Violation{Rule: ms[0].rule, Message: i}, true
		}
	}
	return Violation{}, false
}
