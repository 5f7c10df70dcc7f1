package router

// Outcome is how a routed request ended, as the response phase saw it. It
// decides what the provider's breaker learns from the request.
type Outcome uint8

// The zero Outcome is OutcomeCanceled, so a forgotten outcome never counts
// against a provider.
const (
	// OutcomeCanceled: the client went away, or the gateway dropped the request
	// before it reached the provider. Not counted either way.
	OutcomeCanceled Outcome = iota
	// OutcomeSuccess: the provider answered 1xx-3xx.
	OutcomeSuccess
	// OutcomeClientError: the provider answered 4xx other than 429. The request
	// was at fault, and the provider proved it is alive: counted as a success.
	OutcomeClientError
	// OutcomeRateLimited: the provider answered 429. Counted as a failure,
	// because sending it more traffic only makes things worse.
	OutcomeRateLimited
	// OutcomeServerError: a 5xx from the provider or an Envoy local reply
	// (503 no healthy upstream or overflow, fault-filter aborts). A failure.
	OutcomeServerError
	// OutcomeTimeout: 504, from the provider or Envoy's upstream timeout. A failure.
	OutcomeTimeout
	// OutcomeReset: the upstream stream was reset before a response completed.
	// A failure.
	OutcomeReset
)

// OutcomeFromStatus classifies an HTTP status from the response headers.
// Statuses outside 100-599 mean a broken upstream and count as server errors.
func OutcomeFromStatus(status int) Outcome {
	switch {
	case status == 429:
		return OutcomeRateLimited
	case status == 504:
		return OutcomeTimeout
	case status >= 100 && status < 400:
		return OutcomeSuccess
	case status >= 400 && status < 500:
		return OutcomeClientError
	default:
		return OutcomeServerError
	}
}

// Counted reports whether the outcome says anything about the provider's health.
func (o Outcome) Counted() bool { return o != OutcomeCanceled && o <= OutcomeReset }

// Failure reports whether the outcome counts against the provider.
func (o Outcome) Failure() bool { return o >= OutcomeRateLimited && o <= OutcomeReset }

// String returns a metric-label friendly name.
func (o Outcome) String() string {
	switch o {
	case OutcomeCanceled:
		return "canceled"
	case OutcomeSuccess:
		return "success"
	case OutcomeClientError:
		return "client_error"
	case OutcomeRateLimited:
		return "rate_limited"
	case OutcomeServerError:
		return "server_error"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeReset:
		return "reset"
	default:
		return "unknown"
	}
}
