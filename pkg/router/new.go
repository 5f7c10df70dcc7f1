package router

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"time"
)

// Envoy request headers the router sets besides the cluster header.
const (
	HeaderUpstreamTimeout = "x-envoy-upstream-rq-timeout-ms"
	HeaderMaxRetries      = "x-envoy-max-retries"
)

// New validates the options and builds a Router. Every problem found is
// reported at once (errors.Join). With Options.Previous set, providers whose
// breaker settings are unchanged keep their breaker, and bulkheads of
// unchanged size are shared; the Previous Router keeps working for requests in
// flight. Call New with Previous only for the Router you are about to swap in.
func New(opts Options) (*Router, error) {
	applyDefaults(&opts)
	var p problems
	validateOptions(&opts, &p)
	chaos := make([]*Chaos, len(opts.Chaos))
	for i, rule := range opts.Chaos {
		c, errs := compileChaos(i, rule, opts.FaultDenominator)
		chaos[i] = c
		p = append(p, errs...)
	}
	if len(p) > 0 {
		return nil, errors.Join(p...)
	}

	e := &env{now: opts.Now, obs: opts.Observer}
	r := &Router{
		routes:    make(map[string]*route, len(opts.Routes)),
		providers: make(map[string]*providerState, len(opts.Providers)),
		env:       e,
		rand:      opts.Rand,
	}
	prev := opts.Previous
	var prevGlobal *limiter
	if prev != nil {
		prevGlobal = prev.global
	}
	r.global = newLimiter(opts.MaxConcurrent, prevGlobal)
	for _, pr := range opts.Providers {
		r.providers[pr.Name] = buildProvider(pr, prev, e)
	}
	for _, rt := range opts.Routes {
		r.routes[rt.Model] = r.buildRoute(rt, opts, chaos)
	}
	if prev != nil {
		prev.detach(r)
	}
	return r, nil
}

func applyDefaults(o *Options) {
	if o.ClusterHeader == "" {
		o.ClusterHeader = DefaultClusterHeader
	}
	if o.FaultDenominator == 0 {
		o.FaultDenominator = denominatorHundred
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Uint64
	}
}

// buildProvider reuses the previous Router's breaker when the settings are
// unchanged, else builds a new one that inherits an open state.
func buildProvider(pr Provider, prev *Router, e *env) *providerState {
	var old *providerState
	if prev != nil {
		old = prev.providers[pr.Name]
	}
	ps := &providerState{Provider: pr}
	switch {
	case old != nil && old.Breaker == pr.Breaker:
		ps.health = old.health
		ps.health.env.Store(e)
	case old != nil:
		ps.health = newHealth(pr.Name, pr.Breaker, e)
		ps.health.inherit(old.health)
	default:
		ps.health = newHealth(pr.Name, pr.Breaker, e)
	}
	var oldLimit *limiter
	if old != nil {
		oldLimit = old.limit
	}
	ps.limit = newLimiter(pr.MaxConcurrent, oldLimit)
	return ps
}

// detach silences breakers that next no longer uses: requests still in flight
// on them must not report transitions for a provider that is gone or whose
// breaker was replaced.
func (r *Router) detach(next *Router) {
	for name, old := range r.providers {
		if np := next.providers[name]; np != nil && np.health == old.health {
			continue
		}
		en := old.health.env.Load()
		old.health.env.Store(&env{now: en.now, obs: NopObserver{}})
	}
}

func (r *Router) buildRoute(rt Route, opts Options, chaos []*Chaos) *route {
	out := &route{model: rt.Model, sticky: rt.Sticky, deps: make([]deployment, len(rt.Deployments))}
	for i, d := range rt.Deployments {
		p := r.providers[d.Provider]
		model := upstreamModel(rt, d)
		dep := deployment{
			provider: p,
			model:    model,
			weight:   uint64(d.Weight),
			seed:     mix(hashString(d.Provider + "/" + model)),
		}
		for j, rule := range opts.Chaos {
			if rule.matches(d.Provider, rt.Model) {
				dep.chaos = chaos[j]
				break
			}
		}
		dep.headers = envoyHeaders(opts.ClusterHeader, &p.Provider, dep.chaos)
		out.deps[i] = dep
		if d.Weight > 0 {
			out.weighted |= 1 << i
		}
	}
	return out
}

func envoyHeaders(clusterHeader string, p *Provider, c *Chaos) [][2]string {
	h := make([][2]string, 0, 3+len(c.Headers()))
	h = append(h, [2]string{clusterHeader, p.Cluster})
	if p.Timeout > 0 {
		h = append(h, [2]string{HeaderUpstreamTimeout, strconv.FormatInt(p.Timeout.Milliseconds(), 10)})
	}
	h = append(h, [2]string{HeaderMaxRetries, strconv.Itoa(p.MaxRetries)})
	return append(h, c.Headers()...)
}
