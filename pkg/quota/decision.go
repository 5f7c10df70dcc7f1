package quota

import (
	"strconv"
	"time"
)

// Kind is the OpenAI rate-limit type a limit belongs to.
type Kind string

// Kinds of limit, as OpenAI names them in the error "type" of a 429.
const (
	KindRequests Kind = "requests"
	KindTokens   Kind = "tokens"
)

// Period says which limit of a Kind was hit.
type Period string

// Periods of a limit. PeriodConcurrent is the in-flight request limit.
const (
	PeriodMinute     Period = "minute"
	PeriodDay        Period = "day"
	PeriodMonth      Period = "month"
	PeriodConcurrent Period = "concurrent"
)

// OpenAI error codes of denied decisions.
const (
	// CodeRateLimitExceeded is used for per-minute and concurrency limits.
	CodeRateLimitExceeded = "rate_limit_exceeded"
	// CodeInsufficientQuota is used for exhausted day and month budgets.
	CodeInsufficientQuota = "insufficient_quota"
)

// RateInfo is the data behind one family of x-ratelimit-* headers. A zero
// Limit means the limit is not set and no header is produced.
type RateInfo struct {
	Limit     int64
	Remaining int64
	// Reset is the time until the window is back to its initial state.
	Reset time.Duration
}

// Decision is the outcome of an admission check, with everything the HTTP
// layer needs to answer like OpenAI.
type Decision struct {
	Allowed bool
	// Kind, Period and Model name the limit that denied the request (Model is
	// empty when it was a consumer-wide limit). Zero when allowed.
	Kind   Kind
	Period Period
	Model  string
	// Code is the OpenAI error code: CodeRateLimitExceeded or CodeInsufficientQuota.
	Code string
	// Limit, Used and Requested describe the denying limit for the message.
	Limit, Used, Requested int64
	// RetryAfter is the wait, assuming no other traffic, until the request
	// would fit. Zero when waiting cannot help.
	RetryAfter time.Duration
	// ShouldRetry is false when an automatic retry cannot succeed soon: the
	// day or month budget is gone, or the request alone exceeds the limit.
	ShouldRetry bool
	// TooLarge is set when the request alone exceeds the limit.
	TooLarge bool
	// Requests and Tokens feed the x-ratelimit-* headers (per-minute limits,
	// the scope with the least remaining).
	Requests RateInfo
	Tokens   RateInfo
	// Local is set when the local fallback store decided (Redis unavailable
	// with FailOpen).
	Local bool
}

// ErrorType is the OpenAI error "type" for a denied decision: "requests" or
// "tokens" for rate limits, "insufficient_quota" for exhausted budgets.
func (d Decision) ErrorType() string {
	if d.Code == CodeInsufficientQuota {
		return CodeInsufficientQuota
	}
	return string(d.Kind)
}

// Headers formats the rate-limit headers the way OpenAI sends them:
// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, and when denied
// retry-after (whole seconds, rounded up), retry-after-ms and x-should-retry
// (which the OpenAI SDKs obey).
func (d Decision) Headers() [][2]string {
	h := make([][2]string, 0, 9)
	for _, r := range []struct {
		name string
		info RateInfo
	}{{"requests", d.Requests}, {"tokens", d.Tokens}} {
		if r.info.Limit <= 0 {
			continue
		}
		h = append(h,
			[2]string{"x-ratelimit-limit-" + r.name, strconv.FormatInt(r.info.Limit, 10)},
			[2]string{"x-ratelimit-remaining-" + r.name, strconv.FormatInt(max(0, r.info.Remaining), 10)},
			[2]string{"x-ratelimit-reset-" + r.name, FormatDuration(r.info.Reset)})
	}
	if d.Allowed {
		return h
	}
	if d.RetryAfter > 0 {
		msCeil := ceilDiv(int64(d.RetryAfter), int64(time.Millisecond))
		h = append(h,
			[2]string{"retry-after", strconv.FormatInt(ceilDiv(msCeil, 1000), 10)},
			[2]string{"retry-after-ms", strconv.FormatInt(msCeil, 10)})
	}
	return append(h, [2]string{"x-should-retry", strconv.FormatBool(d.ShouldRetry)})
}

// Message is the OpenAI-style error message of a denied decision, e.g.
// "Rate limit reached for requests per minute: Limit 60, Used 60, Requested 1.
// Please try again in 1s." It is empty when allowed.
func (d Decision) Message() string {
	if d.Allowed {
		return ""
	}
	what := d.limitName()
	nums := "Limit " + strconv.FormatInt(d.Limit, 10)
	if !d.TooLarge {
		nums += ", Used " + strconv.FormatInt(d.Used, 10)
	}
	nums += ", Requested " + strconv.FormatInt(d.Requested, 10) + "."
	switch {
	case d.TooLarge:
		return "Request too large for " + what + ": " + nums +
			" The input or output tokens must be reduced in order to run successfully."
	case d.Code == CodeInsufficientQuota:
		return "You exceeded your current quota for " + what + ": " + nums +
			" The quota resets in " + FormatDuration(d.RetryAfter) + "."
	default:
		return "Rate limit reached for " + what + ": " + nums +
			" Please try again in " + FormatDuration(d.RetryAfter) + "."
	}
}

// limitName reads like "tokens per day" or "gpt-4o on requests per minute".
func (d Decision) limitName() string {
	var name string
	if d.Period == PeriodConcurrent {
		name = "concurrent requests"
	} else {
		name = string(d.Kind) + " per " + string(d.Period)
	}
	if d.Model != "" {
		return d.Model + " on " + name
	}
	return name
}

// FormatDuration writes d as OpenAI writes reset times: Go duration syntax
// rounded up to the millisecond ("6m0s", "1s", "20ms", "1.5s").
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return ms(ceilDiv(int64(d), int64(time.Millisecond))).String()
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
