package quota

import "time"

// concurrencyRetryAfter is suggested when the concurrency limit denies: when a
// slot frees depends on other requests' durations, which nobody knows, and a
// short wait keeps clients from hammering.
const concurrencyRetryAfter = time.Second

// check is one limit test: the operation fits when limit == 0 or
// used+cost <= limit. The Redis script applies the same predicate to the same
// numbers; both stores and the Limiter's decisions derive from scopeChecks so
// they cannot disagree.
type check struct {
	kind   Kind
	period Period
	limit  int64
	used   int64
	cost   int64
	window Window // minute checks only, for retry times
}

func (c check) over() bool { return c.limit > 0 && c.used+c.cost > c.limit }

// scopeChecks lists a scope's Reserve checks. The requests-per-minute check is
// active only where Reserve counts the request: always in the model scope, in
// the consumer scope when ReserveOp.CountRequest is set (otherwise the
// consumer's request rate was settled by CountRequest).
func scopeChecks(c ScopeCounts, l Limits, elapsed int64, op ReserveOp, countRequest bool) [5]check {
	rpm := int64(0)
	if countRequest {
		rpm = l.RequestsPerMinute
	}
	tokens := op.Tokens
	return [5]check{
		{KindRequests, PeriodMinute, rpm, c.Requests.estimate(elapsed), op.requests(), c.Requests},
		{KindRequests, PeriodConcurrent, l.MaxConcurrent, c.InFlight, op.slots(), Window{}},
		{KindTokens, PeriodMinute, l.TokensPerMinute, c.Tokens.estimate(elapsed), tokens, c.Tokens},
		{KindTokens, PeriodDay, l.TokensPerDay, c.Day, tokens, Window{}},
		{KindTokens, PeriodMonth, l.TokensPerMonth, c.Month, tokens, Window{}},
	}
}

func anyOver(checks [5]check) bool {
	for _, c := range checks {
		if c.over() {
			return true
		}
	}
	return false
}

// requestDecision turns a CountRequest result into a Decision.
func requestDecision(op RequestOp, res RequestResult) Decision {
	elapsed := elapsedInMinute(op.Now)
	d := Decision{Allowed: res.Allowed, Requests: windowRate(op.Limit, res.Window, elapsed, added(res.Allowed, 1))}
	if !res.Allowed {
		c := check{KindRequests, PeriodMinute, op.Limit, res.Window.estimate(elapsed), 1, res.Window}
		d = deny(d, c, "", op.Now)
	}
	return d
}

// reserveDecision turns a Reserve result into a Decision: header data from the
// tightest per-minute limits and, when denied, the limit that needs the longest
// wait (a request must satisfy all of them).
func reserveDecision(op ReserveOp, res ReserveResult) Decision {
	elapsed := elapsedInMinute(op.Now)
	d := Decision{Allowed: res.Allowed}
	var worst *check
	var worstModel string
	scopes := [2]scopeView{{"", res.Consumer, op.Limits}, {op.Model, res.Model, op.ModelLimits}}
	n := 1
	if op.Model != "" {
		n = 2
	}
	for i, s := range scopes[:n] {
		counted := i == 1 || op.CountRequest
		checks := scopeChecks(s.counts, s.limits, elapsed, op, counted)
		d.Requests = tighter(d.Requests, windowRate(s.limits.RequestsPerMinute, s.counts.Requests, elapsed,
			added(res.Allowed && counted, op.requests())))
		d.Tokens = tighter(d.Tokens, windowRate(s.limits.TokensPerMinute, s.counts.Tokens, elapsed,
			added(res.Allowed, op.Tokens)))
		for j := range checks {
			if c := &checks[j]; !res.Allowed && c.over() && (worst == nil || worse(*c, *worst, op.Now)) {
				worst, worstModel = c, s.model
			}
		}
	}
	if !res.Allowed {
		if worst == nil { // the store denied on numbers the checks accept: a store bug
			worst = &check{kind: KindTokens, period: PeriodMinute}
		}
		d = deny(d, *worst, worstModel, op.Now)
	}
	return d
}

// allowedDecision is reserveDecision for an admitted op: only the header
// data. Requests admitted under a lease get theirs from it, on a small stack.
func allowedDecision(op *ReserveOp, res *ReserveResult) Decision {
	elapsed := elapsedInMinute(op.Now)
	d := Decision{Allowed: true}
	d.Requests = tighter(windowRate(op.Limits.RequestsPerMinute, res.Consumer.Requests, elapsed, added(op.CountRequest, op.requests())),
		windowRate(op.ModelLimits.RequestsPerMinute, res.Model.Requests, elapsed, op.requests()))
	d.Tokens = tighter(windowRate(op.Limits.TokensPerMinute, res.Consumer.Tokens, elapsed, op.Tokens),
		windowRate(op.ModelLimits.TokensPerMinute, res.Model.Tokens, elapsed, op.Tokens))
	return d
}

// scopeView is one scope's inputs to a decision.
type scopeView struct {
	model  string
	counts ScopeCounts
	limits Limits
}

func added(applied bool, n int64) int64 {
	if applied {
		return n
	}
	return 0
}

// windowRate is the header data of a per-minute limit after adding add.
func windowRate(limit int64, w Window, elapsed, add int64) RateInfo {
	if limit <= 0 {
		return RateInfo{}
	}
	w.Cur += add
	reset, _ := w.waitUntil(elapsed, 0)
	return RateInfo{Limit: limit, Remaining: max(0, limit-w.estimate(elapsed)), Reset: reset}
}

// tighter keeps the limit with the least remaining.
func tighter(a, b RateInfo) RateInfo {
	if a.Limit <= 0 || (b.Limit > 0 && b.Remaining < a.Remaining) {
		return b
	}
	return a
}

// retry computes how long c needs and whether retrying can help.
func (c check) retry(now time.Time) (wait time.Duration, should, tooLarge bool) {
	if c.cost > c.limit {
		return 0, false, true
	}
	p := PeriodsAt(now)
	switch c.period {
	case PeriodMinute:
		wait, _ = c.window.waitUntil(elapsedInMinute(now), c.limit-c.cost)
		return wait, true, false
	case PeriodDay:
		return ms(dayEndMs(p) - now.UnixMilli()), false, false
	case PeriodMonth:
		return ms(monthEndMs(p) - now.UnixMilli()), false, false
	default:
		return concurrencyRetryAfter, true, false
	}
}

// worse orders denials: hopeless before retryable, then longer waits first.
func worse(a, b check, now time.Time) bool {
	wa, sa, la := a.retry(now)
	wb, sb, lb := b.retry(now)
	if la != lb {
		return la
	}
	if sa != sb {
		return !sa
	}
	return wa > wb
}

func deny(d Decision, c check, model string, now time.Time) Decision {
	d.Allowed = false
	d.Kind, d.Period, d.Model = c.kind, c.period, model
	d.Limit, d.Used, d.Requested = c.limit, c.used, c.cost
	d.RetryAfter, d.ShouldRetry, d.TooLarge = c.retry(now)
	d.Code = CodeRateLimitExceeded
	if c.period == PeriodDay || c.period == PeriodMonth {
		d.Code = CodeInsufficientQuota
	}
	return d
}
