package quota

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHeaders(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		want [][2]string
	}{
		{"allowed with both families", Decision{Allowed: true,
			Requests: RateInfo{Limit: 60, Remaining: 59, Reset: time.Second},
			Tokens:   RateInfo{Limit: 150000, Remaining: 149984, Reset: 6 * time.Millisecond}},
			[][2]string{
				{"x-ratelimit-limit-requests", "60"}, {"x-ratelimit-remaining-requests", "59"}, {"x-ratelimit-reset-requests", "1s"},
				{"x-ratelimit-limit-tokens", "150000"}, {"x-ratelimit-remaining-tokens", "149984"}, {"x-ratelimit-reset-tokens", "6ms"},
			}},
		{"allowed without limits", Decision{Allowed: true}, [][2]string{}},
		{"denied, retry rounds up", Decision{Kind: KindRequests, Period: PeriodMinute, ShouldRetry: true,
			RetryAfter: 1500*time.Millisecond + 1, Requests: RateInfo{Limit: 3, Reset: 6 * time.Minute}},
			[][2]string{
				{"x-ratelimit-limit-requests", "3"}, {"x-ratelimit-remaining-requests", "0"}, {"x-ratelimit-reset-requests", "6m0s"},
				{"retry-after", "2"}, {"retry-after-ms", "1501"}, {"x-should-retry", "true"},
			}},
		{"denied for good", Decision{TooLarge: true}, [][2]string{{"x-should-retry", "false"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, c.d.Headers()); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		want string
	}{
		{"allowed", Decision{Allowed: true}, ""},
		{"requests per minute", Decision{Kind: KindRequests, Period: PeriodMinute, Code: CodeRateLimitExceeded,
			Limit: 60, Used: 60, Requested: 1, RetryAfter: time.Second},
			"Rate limit reached for requests per minute: Limit 60, Used 60, Requested 1. Please try again in 1s."},
		{"model tokens per minute", Decision{Kind: KindTokens, Period: PeriodMinute, Model: "gpt-4o",
			Code: CodeRateLimitExceeded, Limit: 1000, Used: 900, Requested: 200, RetryAfter: 20 * time.Millisecond},
			"Rate limit reached for gpt-4o on tokens per minute: Limit 1000, Used 900, Requested 200. Please try again in 20ms."},
		{"monthly budget", Decision{Kind: KindTokens, Period: PeriodMonth, Code: CodeInsufficientQuota,
			Limit: 100, Used: 99, Requested: 2, RetryAfter: 49 * time.Hour},
			"You exceeded your current quota for tokens per month: Limit 100, Used 99, Requested 2. The quota resets in 49h0m0s."},
		{"too large", Decision{Kind: KindTokens, Period: PeriodDay, Code: CodeInsufficientQuota, TooLarge: true,
			Limit: 100, Used: 5, Requested: 200},
			"Request too large for tokens per day: Limit 100, Requested 200. The input or output tokens must be reduced in order to run successfully."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.d.Message(); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	for _, c := range []struct {
		d    Decision
		want string
	}{
		{Decision{Kind: KindRequests, Code: CodeRateLimitExceeded}, "requests"},
		{Decision{Kind: KindTokens, Code: CodeRateLimitExceeded}, "tokens"},
		{Decision{Kind: KindTokens, Code: CodeInsufficientQuota}, "insufficient_quota"},
	} {
		if got := c.d.ErrorType(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {time.Nanosecond, "1ms"}, {20 * time.Millisecond, "20ms"},
		{time.Second, "1s"}, {1500 * time.Millisecond, "1.5s"}, {6 * time.Minute, "6m0s"},
	} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestWorstDenialWins checks that when several limits deny, the decision
// names the one a retry must wait for: hopeless before long before short.
func TestWorstDenialWins(t *testing.T) {
	op := ReserveOp{Consumer: "c", Tokens: 50, Now: base,
		Limits: Limits{TokensPerMinute: 100, TokensPerDay: 1000, MaxConcurrent: 1}}
	cases := []struct {
		name   string
		counts ScopeCounts
		want   Period
	}{
		{"concurrency alone", ScopeCounts{InFlight: 1}, PeriodConcurrent},
		{"minute beats concurrency (longer wait)", ScopeCounts{InFlight: 1, Tokens: Window{Cur: 80}}, PeriodMinute},
		{"day beats minute (retry cannot help)", ScopeCounts{InFlight: 1, Tokens: Window{Cur: 80}, Day: 990}, PeriodDay},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := reserveDecision(op, ReserveResult{Consumer: c.counts})
			if d.Allowed || d.Period != c.want {
				t.Errorf("period %q, want %q (%+v)", d.Period, c.want, d)
			}
		})
	}
}
