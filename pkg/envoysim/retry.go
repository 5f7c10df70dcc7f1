package envoysim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// RetryPolicy is the digest of a route retry_policy with Envoy's defaults.
type RetryPolicy struct {
	// RetryOn holds the configured conditions (5xx, reset, ...).
	RetryOn              []string
	RetriableStatusCodes []int
	// NumRetries defaults to 1 when the policy leaves it unset.
	NumRetries    int
	PerTryTimeout time.Duration
	// PreviousHosts is the previous_hosts retry host predicate.
	PreviousHosts            bool
	HostSelectionMaxAttempts int
	BaseInterval             time.Duration
	MaxInterval              time.Duration
}

type retryOn uint32

const (
	retryOn5xx retryOn = 1 << iota
	retryOnGatewayError
	retryOnReset
	retryOnResetBeforeRequest
	retryOnConnectFailure
	retryOnRetriable4xx
	retryOnRefusedStream
	retryOnRetriableStatusCodes
	retryOnIgnored // gRPC and other conditions that never fire for HTTP/1 JSON traffic
)

var retryOnNames = map[string]retryOn{
	"5xx": retryOn5xx, "gateway-error": retryOnGatewayError, "reset": retryOnReset,
	"reset-before-request": retryOnResetBeforeRequest, "connect-failure": retryOnConnectFailure,
	"retriable-4xx": retryOnRetriable4xx, "refused-stream": retryOnRefusedStream,
	"retriable-status-codes": retryOnRetriableStatusCodes, "envoy-ratelimited": retryOnIgnored,
	"retriable-headers": retryOnIgnored, "http3-post-connect-failure": retryOnIgnored,
	"cancelled": retryOnIgnored, "deadline-exceeded": retryOnIgnored, "internal": retryOnIgnored,
	"resource-exhausted": retryOnIgnored, "unavailable": retryOnIgnored,
}

// parseRetryOn parses a comma-separated retry_on list; ok is false when a
// name is unknown (Envoy rejects such a route, and ignores such a header).
func parseRetryOn(s string) (retryOn, bool) {
	var out retryOn
	ok := true
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		bit, known := retryOnNames[part]
		if !known {
			ok = false
			continue
		}
		out |= bit
	}
	return out, ok
}

func digestRetryPolicy(rp *routev3.RetryPolicy) (*RetryPolicy, error) {
	if rp.GetRetryPriority() != nil || len(rp.GetRetryOptionsPredicates()) > 0 ||
		rp.GetRateLimitedRetryBackOff() != nil || len(rp.GetRetriableHeaders()) > 0 ||
		len(rp.GetRetriableRequestHeaders()) > 0 {
		return nil, errors.New("retry priority/options/rate-limited back-off/retriable headers are not emulated")
	}
	if _, ok := parseRetryOn(rp.GetRetryOn()); !ok {
		return nil, fmt.Errorf("unknown retry_on condition in %q", rp.GetRetryOn())
	}
	out := &RetryPolicy{
		NumRetries:               1,
		PerTryTimeout:            durationOr(rp.GetPerTryTimeout(), 0),
		HostSelectionMaxAttempts: 1,
		BaseInterval:             25 * time.Millisecond,
	}
	for _, p := range strings.Split(rp.GetRetryOn(), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out.RetryOn = append(out.RetryOn, p)
		}
	}
	for _, c := range rp.GetRetriableStatusCodes() {
		out.RetriableStatusCodes = append(out.RetriableStatusCodes, int(c))
	}
	if rp.GetNumRetries() != nil {
		out.NumRetries = int(rp.GetNumRetries().GetValue())
	}
	if n := rp.GetHostSelectionRetryMaxAttempts(); n > 0 {
		out.HostSelectionMaxAttempts = int(n)
	}
	for _, hp := range rp.GetRetryHostPredicate() {
		if hp.GetName() != "envoy.retry_host_predicates.previous_hosts" {
			return nil, fmt.Errorf("retry_host_predicate %q is not emulated", hp.GetName())
		}
		out.PreviousHosts = true
	}
	if bo := rp.GetRetryBackOff(); bo != nil {
		out.BaseInterval = durationOr(bo.GetBaseInterval(), out.BaseInterval)
		out.MaxInterval = durationOr(bo.GetMaxInterval(), 0)
	}
	if out.MaxInterval == 0 {
		out.MaxInterval = 10 * out.BaseInterval
	}
	return out, nil
}

// retryState is the per-request retry decision maker, built from the route
// policy and the x-envoy-* headers the sidecar set.
type retryState struct {
	on        retryOn
	statuses  map[int]bool
	remaining int
	policy    *RetryPolicy
	// nextInterval drives Envoy's jittered exponential back-off.
	nextInterval time.Duration
	attempt      int
}

// newRetryState consumes the router's retry headers from h. It returns nil
// when the request cannot be retried at all.
func newRetryState(policy *RetryPolicy, h *headerMap) *retryState {
	rs := &retryState{statuses: map[int]bool{}, policy: policy}
	if policy != nil {
		rs.on, _ = parseRetryOn(strings.Join(policy.RetryOn, ","))
		rs.remaining = policy.NumRetries
		for _, c := range policy.RetriableStatusCodes {
			rs.statuses[c] = true
		}
	} else {
		rs.policy = &RetryPolicy{NumRetries: 1, HostSelectionMaxAttempts: 1, BaseInterval: 25 * time.Millisecond, MaxInterval: 250 * time.Millisecond}
		rs.remaining = 1
	}
	headerOn, hasHeaderOn := h.get("x-envoy-retry-on")
	if hasHeaderOn {
		bits, _ := parseRetryOn(headerOn) // unknown names are ignored, like Envoy
		rs.on |= bits
	}
	if v, ok := h.get("x-envoy-retriable-status-codes"); ok {
		for _, s := range strings.Split(v, ",") {
			if c, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				rs.statuses[c] = true
			}
		}
	}
	if v, ok := h.get("x-envoy-max-retries"); ok && (policy != nil || hasHeaderOn) {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			rs.remaining = int(n)
		}
	}
	if policy == nil && !hasHeaderOn {
		return nil
	}
	rs.nextInterval = rs.policy.BaseInterval
	return rs
}

// wouldRetry reports whether the retry_on conditions cover this attempt.
func (rs *retryState) wouldRetry(a *attemptResult) bool {
	if rs == nil {
		return false
	}
	on := rs.on
	switch a.kind {
	case attemptResponse:
		code := a.resp.StatusCode
		return on&retryOn5xx != 0 && code >= 500 ||
			on&retryOnGatewayError != 0 && code >= 502 && code <= 504 ||
			on&retryOnRetriable4xx != 0 && code == 409 ||
			on&retryOnRetriableStatusCodes != 0 && rs.statuses[code]
	case attemptConnectFailure:
		return on&(retryOn5xx|retryOnGatewayError|retryOnReset|retryOnConnectFailure|retryOnResetBeforeRequest) != 0
	case attemptReset:
		return on&(retryOn5xx|retryOnGatewayError|retryOnReset) != 0
	case attemptPerTryTimeout:
		// A per-try timeout counts as a 504 from the upstream.
		return on&(retryOn5xx|retryOnGatewayError) != 0
	}
	return false
}

// backOff returns the next jittered exponential interval: random in
// [0, interval) with the interval doubling up to the maximum.
func (rs *retryState) backOff(r Rand, override func(int) time.Duration) time.Duration {
	rs.attempt++
	if override != nil {
		return override(rs.attempt)
	}
	cur := rs.nextInterval
	if cur <= 0 {
		return 0
	}
	maxI := rs.policy.MaxInterval
	if cur >= maxI/2 {
		rs.nextInterval = maxI
	} else {
		rs.nextInterval = cur * 2
	}
	return min(time.Duration(r.Uint64()%uint64(cur)), maxI)
}

// routerControlHeaders are consumed by Envoy's router and never forwarded.
var routerControlHeaders = []string{
	"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
	"x-envoy-max-retries", "x-envoy-retry-on", "x-envoy-retry-grpc-on",
	"x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
	"x-envoy-upstream-rq-timeout-alt-response", "x-envoy-hedge-on-per-try-timeout",
	"x-envoy-expected-rq-timeout-ms",
}

// routeTimeouts reads the timeout overrides the router honours.
func routeTimeouts(route *Route, h *headerMap) (global, perTry time.Duration) {
	global = route.Timeout
	if v, ok := h.get("x-envoy-upstream-rq-timeout-ms"); ok {
		if ms, err := strconv.ParseUint(v, 10, 63); err == nil {
			global = time.Duration(ms) * time.Millisecond
		}
	}
	if route.Retry != nil {
		perTry = route.Retry.PerTryTimeout
	}
	if v, ok := h.get("x-envoy-upstream-rq-per-try-timeout-ms"); ok {
		if ms, err := strconv.ParseUint(v, 10, 63); err == nil {
			perTry = time.Duration(ms) * time.Millisecond
		}
	}
	if global > 0 && perTry >= global {
		perTry = 0
	}
	return global, perTry
}
