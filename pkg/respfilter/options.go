// Package respfilter rewrites OpenAI chat completion response bodies on their
// way to the client: the model name the client asked for, output guardrails
// (banned phrases, length caps), usage extraction for accounting, and, for
// streams, removal of the usage chunk the gateway asked for on the client's
// behalf. Streams are processed chunk by chunk whatever the chunk boundaries,
// with memory bounded independently of the stream's length.
package respfilter

import (
	"errors"

	"github.com/llm-gateway/gateway/pkg/guardrail"
)

// ErrInvalidJSON reports a non-streamed body that is not JSON.
var ErrInvalidJSON = errors.New("respfilter: response body is not valid JSON")

// ErrTooManyChoices reports a stream chunk whose choice index is out of range.
var ErrTooManyChoices = errors.New("respfilter: choice index out of range")

// maxChoices bounds the per-choice state a stream may create.
const maxChoices = 128

// Options configures the filtering of one response.
type Options struct {
	// ClientModel replaces the provider's "model" value; empty keeps it.
	ClientModel string
	// Policy is the output guardrail; nil (or a policy with neither banned
	// phrases nor caps) turns guardrails off.
	Policy *guardrail.Policy
	// ClientWantsUsage is the client's stream_options.include_usage. When false
	// the usage chunk the gateway requested is removed from the stream.
	ClientWantsUsage bool
	// CountTokens counts output tokens for when the provider reports no usage.
	// Nil uses a rough estimate of one token per four bytes.
	CountTokens func(string) int
	// MaxEventBytes bounds one SSE event; 0 means sse.DefaultMaxEventBytes.
	MaxEventBytes int
}

func (o *Options) count(s string) int64 {
	if s == "" {
		return 0
	}
	if o.CountTokens != nil {
		return int64(o.CountTokens(s))
	}
	return int64(len(s)+3) / 4
}

func (o *Options) guarded() bool {
	return o.Policy != nil && (o.Policy.HasBanned() || o.Policy.HasLimits())
}

// Usage is the token usage a provider reported.
type Usage struct {
	PromptTokens       int64
	CompletionTokens   int64
	TotalTokens        int64
	CachedPromptTokens int64 // prompt_tokens_details.cached_tokens
	ReasoningTokens    int64 // completion_tokens_details.reasoning_tokens
}

// Outcome tells what the guardrails did, for metrics and logs. It never holds
// response text.
type Outcome struct {
	// Redactions counts banned phrases replaced.
	Redactions int
	// ContentFiltered is set when a banned phrase ended the output; Violation
	// then names the rule.
	ContentFiltered bool
	Violation       guardrail.Violation
	// Truncated is set when a length cap ended the output.
	Truncated bool
}
