package policy

import (
	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/router"
)

// routerOptions maps the config's providers, models and chaos rules to the router.
func routerOptions(cfg *config.Config) router.Options {
	o := router.Options{
		MaxConcurrent: cfg.Resilience.MaxConcurrent,
		ClusterHeader: cfg.Server.RoutingHeader,
	}
	for _, p := range cfg.Providers {
		rp := router.Provider{
			Name: p.Name, Cluster: p.Cluster, Timeout: p.Timeout.D(),
			MaxRetries: p.MaxRetries, MaxConcurrent: p.MaxConcurrent,
		}
		if b := p.Breaker; b != nil {
			rp.Breaker = router.BreakerSettings{
				FailureThreshold: b.FailureThreshold, Window: b.Window.D(),
				OpenFor: b.OpenFor.D(), HalfOpenProbes: b.HalfOpenProbes,
			}
		}
		o.Providers = append(o.Providers, rp)
	}
	for _, m := range cfg.Models {
		rt := router.Route{Model: m.Name, Sticky: m.Sticky}
		for _, d := range m.Deployments {
			rt.Deployments = append(rt.Deployments, router.Deployment{Provider: d.Provider, Model: d.Model, Weight: d.Weight})
		}
		o.Routes = append(o.Routes, rt)
	}
	for _, c := range cfg.Chaos {
		o.Chaos = append(o.Chaos, router.ChaosRule{
			Provider: c.Provider, Model: c.Model,
			AbortPercent: c.AbortPercent, AbortStatus: c.AbortStatus,
			DelayPercent: c.DelayPercent, Delay: c.Delay.D(),
		})
	}
	return o
}
