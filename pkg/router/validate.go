package router

import (
	"fmt"
	"strings"
	"time"
)

// problems collects every configuration error so New reports them all at once.
type problems []error

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

func validateOptions(o *Options, p *problems) {
	if o.MaxConcurrent < 0 {
		p.addf("max_concurrent %d must not be negative", o.MaxConcurrent)
	}
	if !validDenominator(o.FaultDenominator) {
		p.addf("fault denominator %d must be 100, 10000 or 1000000", o.FaultDenominator)
	}
	providers := validateProviders(o.Providers, p)
	routes := validateRoutes(o.Routes, providers, p)
	for i, c := range o.Chaos {
		if c.Provider != "" && !providers[c.Provider] {
			p.addf("chaos[%d]: unknown provider %q", i, c.Provider)
		}
		if c.Model != "" && !routes[c.Model] {
			p.addf("chaos[%d]: unknown model %q", i, c.Model)
		}
	}
}

func validateProviders(ps []Provider, p *problems) map[string]bool {
	names := make(map[string]bool, len(ps))
	for i, pr := range ps {
		at := fmt.Sprintf("provider[%d] %q", i, pr.Name)
		switch {
		case pr.Name == "":
			p.addf("provider[%d]: name is required", i)
		case strings.Contains(pr.Name, "/"):
			p.addf("%s: name must not contain \"/\" (pins split on it)", at)
		case names[pr.Name]:
			p.addf("%s: duplicate provider", at)
		}
		names[pr.Name] = true
		if pr.Cluster == "" {
			p.addf("%s: cluster is required", at)
		}
		if pr.Timeout < 0 || (pr.Timeout > 0 && pr.Timeout < time.Millisecond) {
			p.addf("%s: timeout %v must be zero or at least 1ms", at, pr.Timeout)
		}
		if pr.MaxRetries < 0 {
			p.addf("%s: max retries %d must not be negative", at, pr.MaxRetries)
		}
		if pr.MaxConcurrent < 0 {
			p.addf("%s: max concurrent %d must not be negative", at, pr.MaxConcurrent)
		}
		validateBreaker(at, pr.Breaker, p)
	}
	return names
}

func validateBreaker(at string, b BreakerSettings, p *problems) {
	if b.FailureThreshold < 0 || b.Window < 0 || b.OpenFor < 0 || b.HalfOpenProbes < 0 {
		p.addf("%s: breaker settings must not be negative", at)
	}
	if b.enabled() && b.OpenFor <= 0 {
		p.addf("%s: breaker open duration must be positive", at)
	}
}

func validateRoutes(rs []Route, providers map[string]bool, p *problems) map[string]bool {
	models := make(map[string]bool, len(rs))
	for i, r := range rs {
		at := fmt.Sprintf("route[%d] %q", i, r.Model)
		switch {
		case r.Model == "":
			p.addf("route[%d]: model is required", i)
		case models[r.Model]:
			p.addf("%s: duplicate route", at)
		}
		models[r.Model] = true
		switch n := len(r.Deployments); {
		case n == 0:
			p.addf("%s: at least one deployment is required", at)
		case n > maxDeployments:
			p.addf("%s: %d deployments, at most %d allowed", at, n, maxDeployments)
		}
		validateDeployments(at, r, providers, p)
	}
	return models
}

func validateDeployments(at string, r Route, providers map[string]bool, p *problems) {
	seen := make(map[[2]string]bool, len(r.Deployments))
	total := 0
	for j, d := range r.Deployments {
		dat := fmt.Sprintf("%s deployment[%d]", at, j)
		if !providers[d.Provider] {
			p.addf("%s: unknown provider %q", dat, d.Provider)
		}
		key := [2]string{d.Provider, upstreamModel(r, d)}
		if seen[key] {
			p.addf("%s: duplicate deployment %s/%s", dat, key[0], key[1])
		}
		seen[key] = true
		if d.Weight < 0 {
			p.addf("%s: weight %d must not be negative", dat, d.Weight)
		} else {
			total += d.Weight
		}
	}
	if len(r.Deployments) > 0 && total == 0 {
		p.addf("%s: at least one deployment needs a positive weight", at)
	}
}

// upstreamModel is the provider's model name with its default applied.
func upstreamModel(r Route, d Deployment) string {
	if d.Model == "" {
		return r.Model
	}
	return d.Model
}
