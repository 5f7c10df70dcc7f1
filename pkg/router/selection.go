package router

import (
	"sync/atomic"
)

// Selection is the deployment chosen for one request. It holds concurrency
// permits and, while half-open, a breaker probe slot: call Done exactly once
// when the request ends, whichever way it ends. Extra calls are ignored.
type Selection struct {
	// Model is the client-facing model the client asked for.
	Model string
	// Provider serves the request. Shared and read-only.
	Provider *Provider
	// UpstreamModel is the provider's name for the model (rewrite the body with it).
	UpstreamModel string
	// Chaos is the fault injection decision, nil when no rule applies.
	Chaos *Chaos
	// Pinned is true when the request's pin chose the deployment.
	Pinned bool
	// Probe is true when the request is a half-open breaker probe.
	Probe bool

	dep    *deployment
	global *limiter
	ticket ticket
	done   atomic.Bool
}

// EnvoyHeaders returns every per-request Envoy control header for this
// selection: the cluster header, x-envoy-upstream-rq-timeout-ms (when the
// provider has a timeout), x-envoy-max-retries and, when chaos applies, the
// fault filter headers. The slice is shared: do not modify it.
func (s *Selection) EnvoyHeaders() [][2]string { return s.dep.headers }

// Done releases the selection's permits and tells the provider's breaker how
// the request went. Only the first call has any effect, so a deferred safety
// net next to the normal call is fine. Permits go back to the limiters they
// came from, even when a reload has replaced the Router since.
func (s *Selection) Done(o Outcome) {
	if !s.done.CompareAndSwap(false, true) {
		return
	}
	s.dep.provider.health.done(s.ticket, o)
	s.dep.provider.limit.release()
	s.global.release()
}
