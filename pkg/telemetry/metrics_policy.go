package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// policyMetrics are the series describing policy decisions: quota, budgets,
// guardrails, breakers, backpressure and chaos.
type policyMetrics struct {
	quotaRejections *prometheus.CounterVec
	budgetUsed      *prometheus.GaugeVec
	budgetRemaining *prometheus.GaugeVec

	guardrailVec *prometheus.CounterVec
	guardrails   [numStages][numActions]prometheus.Counter

	breakerState       *prometheus.GaugeVec
	breakerTransitions *prometheus.CounterVec

	backpressureVec *prometheus.CounterVec
	backpressure    [numScopes]prometheus.Counter

	chaosFaults *prometheus.CounterVec
}

func (p *policyMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		p.quotaRejections, p.budgetUsed, p.budgetRemaining, p.guardrailVec,
		p.breakerState, p.breakerTransitions, p.backpressureVec, p.chaosFaults,
	}
}

func (m *Metrics) newPolicy() {
	p := &m.policyMetrics
	p.quotaRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_quota_rejections_total",
		Help: "Requests refused by quota admission, by consumer and the limit that refused them.",
	}, []string{"consumer", "reason"})
	p.budgetUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_budget_used_tokens",
		Help: "Tokens used in the current budget period, by consumer and period.",
	}, []string{"consumer", "period"})
	p.budgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_budget_remaining_tokens",
		Help: "Tokens left in the current budget period, by consumer and period.",
	}, []string{"consumer", "period"})
	p.guardrailVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_guardrail_actions_total",
		Help: "Guardrail interventions, by stage (prompt or output) and action.",
	}, []string{"stage", "action"})
	for s := range numStages {
		for a := range numActions {
			p.guardrails[s][a] = p.guardrailVec.WithLabelValues(s.String(), a.String())
		}
	}
	p.breakerState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_provider_breaker_state",
		Help: "Provider circuit breaker state: 1 for the current state, 0 for the others.",
	}, []string{"provider", "state"})
	p.breakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_provider_breaker_transitions_total",
		Help: "Provider circuit breaker transitions, by the state entered.",
	}, []string{"provider", "to"})
	p.backpressureVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_backpressure_rejections_total",
		Help: "Requests refused because a concurrency bound was full, by scope.",
	}, []string{"scope"})
	for s := range numScopes {
		p.backpressure[s] = p.backpressureVec.WithLabelValues(s.String())
	}
	p.chaosFaults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_chaos_faults_total",
		Help: "Faults the gateway asked Envoy's fault filter to inject, by provider and fault.",
	}, []string{"provider", "fault"})
}

// QuotaRejected counts a request refused by quota admission.
func (m *Metrics) QuotaRejected(consumer string, reason RejectReason) {
	m.quotaRejections.WithLabelValues(m.consumers.value(consumer), reason.label()).Inc()
}

// SetBudget publishes a consumer's token budget for one period.
func (m *Metrics) SetBudget(consumer string, period BudgetPeriod, used, remaining int64) {
	c, p := m.consumers.value(consumer), period.label()
	m.budgetUsed.WithLabelValues(c, p).Set(float64(used))
	m.budgetRemaining.WithLabelValues(c, p).Set(float64(remaining))
}

// GuardrailActed counts one guardrail intervention.
func (m *Metrics) GuardrailActed(stage GuardrailStage, action GuardrailAction) {
	if stage < numStages && action < numActions {
		m.guardrails[stage][action].Inc()
	}
}

// SetBreakerState publishes a provider breaker's state without counting a
// transition (use it at startup and after reloads).
func (m *Metrics) SetBreakerState(provider string, state BreakerState) {
	p := m.providers.value(provider)
	for s := range numBreakerStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breakerState.WithLabelValues(p, s.String()).Set(v)
	}
}

// BreakerTransition records a provider breaker entering a new state.
func (m *Metrics) BreakerTransition(provider string, to BreakerState) {
	m.SetBreakerState(provider, to)
	m.breakerTransitions.WithLabelValues(m.providers.value(provider), to.String()).Inc()
}

// BackpressureRejected counts a request refused by a full concurrency bound.
func (m *Metrics) BackpressureRejected(scope BackpressureScope) {
	if scope < numScopes {
		m.backpressure[scope].Inc()
	}
}

// ChaosFaultRequested counts a fault the gateway asked Envoy to inject.
func (m *Metrics) ChaosFaultRequested(provider string, fault ChaosFault) {
	m.chaosFaults.WithLabelValues(m.providers.value(provider), fault.String()).Inc()
}
