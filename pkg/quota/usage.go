package quota

import "time"

// Meter is one limit's current state.
type Meter struct {
	Used int64 `json:"used"`
	// Limit is 0 when unlimited; Remaining is then -1.
	Limit     int64 `json:"limit"`
	Remaining int64 `json:"remaining"`
	// Reset is the time until the counter is back to zero: the sliding window
	// drained, or the end of the UTC day or month. Zero for concurrency.
	Reset time.Duration `json:"reset_ns"`
}

// ScopeUsage is one scope's meters. Requests are counted only where a
// requests-per-minute limit is set.
type ScopeUsage struct {
	RequestsPerMinute Meter `json:"requests_per_minute"`
	TokensPerMinute   Meter `json:"tokens_per_minute"`
	TokensPerDay      Meter `json:"tokens_per_day"`
	TokensPerMonth    Meter `json:"tokens_per_month"`
	Concurrent        Meter `json:"concurrent"`
}

// UsageReport is a consumer's usage for operators.
type UsageReport struct {
	Consumer string     `json:"consumer"`
	At       time.Time  `json:"at"`
	Usage    ScopeUsage `json:"usage"`
	// Model and ModelUsage are set when the subject had a model scope.
	Model      string      `json:"model,omitempty"`
	ModelUsage *ScopeUsage `json:"model_usage,omitempty"`
	// Local is set when the report comes from the local fallback store.
	Local bool `json:"local,omitempty"`
}

func usageReport(s Subject, now time.Time, res UsageResult, local bool) UsageReport {
	r := UsageReport{Consumer: s.Consumer, At: now, Local: local, Usage: scopeUsage(res.Consumer, s.Limits, now)}
	if s.Model != "" {
		mu := scopeUsage(res.Model, s.ModelLimits, now)
		r.Model, r.ModelUsage = s.Model, &mu
	}
	return r
}

func scopeUsage(c ScopeCounts, l Limits, now time.Time) ScopeUsage {
	elapsed, p, nowMs := elapsedInMinute(now), PeriodsAt(now), now.UnixMilli()
	window := func(w Window, limit int64) Meter {
		reset, _ := w.waitUntil(elapsed, 0)
		return meter(w.estimate(elapsed), limit, reset)
	}
	return ScopeUsage{
		RequestsPerMinute: window(c.Requests, l.RequestsPerMinute),
		TokensPerMinute:   window(c.Tokens, l.TokensPerMinute),
		TokensPerDay:      meter(c.Day, l.TokensPerDay, ms(dayEndMs(p)-nowMs)),
		TokensPerMonth:    meter(c.Month, l.TokensPerMonth, ms(monthEndMs(p)-nowMs)),
		Concurrent:        meter(c.InFlight, l.MaxConcurrent, 0),
	}
}

func meter(used, limit int64, reset time.Duration) Meter {
	m := Meter{Used: used, Limit: limit, Remaining: -1, Reset: reset}
	if limit > 0 {
		m.Remaining = max(0, limit-used)
	}
	return m
}
