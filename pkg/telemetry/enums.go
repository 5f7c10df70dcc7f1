package telemetry

// The small closed sets below are typed so the hot path can index
// pre-resolved series instead of hashing label strings on every call.

// Phase is one ext_proc message kind the sidecar answers.
type Phase uint8

// Phases in the order Envoy sends them.
const (
	PhaseRequestHeaders Phase = iota
	PhaseRequestBody
	PhaseResponseHeaders
	PhaseResponseBody
	numPhases
)

// String returns the phase label value.
func (p Phase) String() string {
	switch p {
	case PhaseRequestHeaders:
		return "request_headers"
	case PhaseRequestBody:
		return "request_body"
	case PhaseResponseHeaders:
		return "response_headers"
	case PhaseResponseBody:
		return "response_body"
	}
	return LabelOther
}

// GuardrailStage says whether a guardrail looked at the prompt or the output.
type GuardrailStage uint8

// Guardrail stages.
const (
	StagePrompt GuardrailStage = iota
	StageOutput
	numStages
)

// String returns the stage label value.
func (s GuardrailStage) String() string {
	switch s {
	case StagePrompt:
		return "prompt"
	case StageOutput:
		return "output"
	}
	return LabelOther
}

// GuardrailAction is what a guardrail did to a request or response.
type GuardrailAction uint8

// Guardrail actions.
const (
	ActionBlock GuardrailAction = iota
	ActionRedact
	ActionStop
	ActionTruncate
	numActions
)

// String returns the action label value.
func (a GuardrailAction) String() string {
	switch a {
	case ActionBlock:
		return "block"
	case ActionRedact:
		return "redact"
	case ActionStop:
		return "stop"
	case ActionTruncate:
		return "truncate"
	}
	return LabelOther
}

// BackpressureScope says which concurrency bound rejected a request.
type BackpressureScope uint8

// Backpressure scopes.
const (
	ScopeGateway BackpressureScope = iota
	ScopeProvider
	numScopes
)

// String returns the scope label value.
func (s BackpressureScope) String() string {
	switch s {
	case ScopeGateway:
		return "gateway"
	case ScopeProvider:
		return "provider"
	}
	return LabelOther
}

// RejectReason is why quota admission refused a request.
type RejectReason string

// Quota rejection reasons; any other value is recorded as LabelOther.
const (
	RejectRequestsPerMinute RejectReason = "requests_per_minute"
	RejectTokensPerMinute   RejectReason = "tokens_per_minute"
	RejectTokensPerDay      RejectReason = "tokens_per_day"
	RejectTokensPerMonth    RejectReason = "tokens_per_month"
	RejectConcurrency       RejectReason = "concurrency"
	RejectStoreUnavailable  RejectReason = "store_unavailable"
)

func (r RejectReason) label() string {
	switch r {
	case RejectRequestsPerMinute, RejectTokensPerMinute, RejectTokensPerDay,
		RejectTokensPerMonth, RejectConcurrency, RejectStoreUnavailable:
		return string(r)
	}
	return LabelOther
}

// BudgetPeriod is the window of a token budget.
type BudgetPeriod string

// Budget periods; any other value is recorded as LabelOther.
const (
	PeriodDay   BudgetPeriod = "day"
	PeriodMonth BudgetPeriod = "month"
)

func (p BudgetPeriod) label() string {
	if p == PeriodDay || p == PeriodMonth {
		return string(p)
	}
	return LabelOther
}

// BreakerState is a provider circuit breaker's state.
type BreakerState uint8

// Breaker states.
const (
	BreakerClosed BreakerState = iota
	BreakerHalfOpen
	BreakerOpen
	numBreakerStates
)

// String returns the state label value.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half_open"
	case BreakerOpen:
		return "open"
	}
	return LabelOther
}

// ChaosFault is a fault the gateway asked Envoy's fault filter to inject.
type ChaosFault uint8

// Chaos faults.
const (
	FaultAbort ChaosFault = iota
	FaultDelay
	numFaults
)

// String returns the fault label value.
func (f ChaosFault) String() string {
	switch f {
	case FaultAbort:
		return "abort"
	case FaultDelay:
		return "delay"
	}
	return LabelOther
}
