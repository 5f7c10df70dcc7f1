// Package router decides which provider deployment serves each request and
// keeps a sick provider from hurting clients.
//
// Envoy does the per-connection work (retries, outlier detection, connection
// circuit breakers); the router decides across providers: weighted choice
// among a model's deployments (canaries), pins, sticky consumers, per-provider
// circuit breakers fed by request outcomes, and non-queueing concurrency
// limits. A Selection carries the provider and the per-request Envoy control
// headers (cluster, timeout, retries, chaos faults); its Done releases the
// permits and feeds the breaker. The package knows nothing of gRPC or HTTP.
//
// Pins are strict: a pinned request never moves to another deployment, and
// a pinned deployment whose breaker is open fails fast with
// ErrNoHealthyProvider like any other. Pins come from key configuration as
// well as debugging headers, and the breaker exists precisely to stop traffic
// to a sick provider; its state is visible through States and the Observer.
//
// A Router is immutable and safe for concurrent use. A config reload builds a
// new one with Options.Previous set and swaps it in (atomic.Pointer).
package router

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Router routes requests. Build it with New.
type Router struct {
	routes    map[string]*route
	providers map[string]*providerState
	global    *limiter
	env       *env
	rand      func() uint64
}

// providerState is a provider with its breaker and bulkhead.
type providerState struct {
	Provider
	health *health
	limit  *limiter
}

// route is a compiled Route. Deployments are addressed by bit masks, which
// keeps selection free of allocations; New limits a route to maxDeployments.
type route struct {
	model  string
	sticky bool
	deps   []deployment
	// weighted has a bit for each deployment with a positive weight: the
	// candidates of an unpinned request.
	weighted uint64
}

// maxDeployments is the width of a route's candidate mask.
const maxDeployments = 64

// deployment is a compiled Deployment with everything a Selection hands out
// precomputed, so Select does no formatting.
type deployment struct {
	provider *providerState
	model    string
	weight   uint64
	// seed identifies the deployment in rendezvous hashing; it depends only on
	// provider and model so sticky consumers stay put across reloads.
	seed    uint64
	chaos   *Chaos
	headers [][2]string
}

// Select picks the deployment for a request and takes its permits. On success
// the caller must call Done on the Selection when the request ends. Errors:
// ErrUnknownModel, ErrPinNotFound (wrapped), or an *UnavailableError wrapping
// ErrSaturated or ErrNoHealthyProvider, in which case nothing must be sent
// upstream.
func (r *Router) Select(req Request) (*Selection, error) {
	rt := r.routes[req.Model]
	if rt == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModel, req.Model)
	}
	mask := rt.weighted
	if req.Pin != "" {
		if mask = rt.pinMask(req.Pin); mask == 0 {
			return nil, fmt.Errorf("%w: pin %q, model %q", ErrPinNotFound, req.Pin, req.Model)
		}
	}
	if !r.global.tryAcquire() {
		r.env.obs.Rejected(req.Model, ReasonSidecarFull)
		return nil, &UnavailableError{Model: req.Model, RetryAfter: saturatedRetryAfter, Err: ErrSaturated}
	}
	sel, err := r.admit(rt, mask, req.Consumer)
	if err != nil {
		r.global.release()
		return nil, err
	}
	sel.Pinned = req.Pin != ""
	return sel, nil
}

// admit tries candidates in preference order until one has a breaker permit
// and a bulkhead permit. Trying the next one on a full bulkhead is failover
// too: a saturated provider is as unable to serve as a failing one.
func (r *Router) admit(rt *route, mask uint64, consumer string) (*Selection, error) {
	var key uint64
	if rt.sticky {
		key = hashString(consumer)
	}
	saturated := false
	retryAfter := time.Duration(math.MaxInt64)
	for mask != 0 {
		i := rt.choose(mask, key, r.rand)
		mask &^= 1 << i
		d := &rt.deps[i]
		p := d.provider
		t, ok, wait := p.health.admit()
		if !ok {
			retryAfter = min(retryAfter, wait)
			r.env.obs.Skipped(p.Name, ReasonBreakerOpen)
			continue
		}
		if !p.limit.tryAcquire() {
			p.health.done(t, OutcomeCanceled) // frees a probe slot, counts nothing
			saturated = true
			r.env.obs.Skipped(p.Name, ReasonProviderFull)
			continue
		}
		return &Selection{
			Model: rt.model, Provider: &p.Provider, UpstreamModel: d.model, Chaos: d.chaos,
			Probe: t.probe, dep: d, global: r.global, ticket: t,
		}, nil
	}
	if saturated {
		r.env.obs.Rejected(rt.model, ReasonProviderFull)
		return nil, &UnavailableError{Model: rt.model, RetryAfter: saturatedRetryAfter, Err: ErrSaturated}
	}
	r.env.obs.Rejected(rt.model, ReasonBreakerOpen)
	return nil, &UnavailableError{Model: rt.model, RetryAfter: retryAfter, Err: ErrNoHealthyProvider}
}

// pinMask returns the deployments a pin allows: "provider/model" names one
// deployment; "provider" names that provider's weighted deployments of the
// route, or all of them when every one has weight zero.
func (rt *route) pinMask(pin string) uint64 {
	provider, model, exact := strings.Cut(pin, "/")
	var all, weighted uint64
	for i := range rt.deps {
		d := &rt.deps[i]
		if d.provider.Name != provider || (exact && d.model != model) {
			continue
		}
		all |= 1 << i
		if d.weight > 0 {
			weighted |= 1 << i
		}
	}
	// An exact pin matches one deployment, whatever its weight.
	if weighted != 0 {
		return weighted
	}
	return all
}

// States returns every provider's breaker state.
func (r *Router) States() map[string]State {
	m := make(map[string]State, len(r.providers))
	for name, p := range r.providers {
		m[name] = p.health.State()
	}
	return m
}
