package gateway

import (
	"github.com/llm-gateway/gateway/pkg/policy"
	"github.com/llm-gateway/gateway/pkg/router"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// routerObserver turns router events into metrics. It runs under a breaker's
// lock, so it only touches metrics.
type routerObserver struct{ m *telemetry.Metrics }

func breakerState(s router.State) telemetry.BreakerState {
	switch s {
	case router.StateOpen:
		return telemetry.BreakerOpen
	case router.StateHalfOpen:
		return telemetry.BreakerHalfOpen
	}
	return telemetry.BreakerClosed
}

func (o routerObserver) BreakerStateChanged(provider string, _, to router.State) {
	o.m.SetBreakerState(provider, breakerState(to))
	o.m.BreakerTransition(provider, breakerState(to))
}

func (o routerObserver) Skipped(string, router.Reason) {}

func (o routerObserver) Rejected(_ string, reason router.Reason) {
	switch reason {
	case router.ReasonSidecarFull:
		o.m.BackpressureRejected(telemetry.ScopeGateway)
	case router.ReasonProviderFull:
		o.m.BackpressureRejected(telemetry.ScopeProvider)
	}
}

// knownLabels bounds metric label values to what the config names.
func knownLabels(s *policy.Snapshot) telemetry.KnownLabels {
	k := telemetry.KnownLabels{Models: append([]string(nil), s.ModelNames...)}
	for id := range s.Consumers {
		k.Consumers = append(k.Consumers, id)
	}
	for name := range s.Providers {
		k.Providers = append(k.Providers, name)
	}
	for _, m := range s.Models {
		for _, d := range m.Deployments {
			k.Models = append(k.Models, d.Model)
		}
	}
	return k
}

// publishBreakers sets every provider's breaker gauge (after start and reloads).
func publishBreakers(s *policy.Snapshot, m *telemetry.Metrics) {
	for name, st := range s.Router.States() {
		m.SetBreakerState(name, breakerState(st))
	}
}
