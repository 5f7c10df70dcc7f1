package router

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of Select; test them with errors.Is.
var (
	// ErrUnknownModel: no route for the requested model (answer 404).
	ErrUnknownModel = errors.New("router: unknown model")
	// ErrPinNotFound: the pin names no deployment of the model (answer 400).
	ErrPinNotFound = errors.New("router: pin matches no deployment of the model")
	// ErrNoHealthyProvider: every candidate's breaker is open (answer 503 with
	// Retry-After; never call upstream).
	ErrNoHealthyProvider = errors.New("router: no healthy provider")
	// ErrSaturated: concurrency limits are full (answer 503 with Retry-After;
	// never call upstream).
	ErrSaturated = errors.New("router: saturated")
)

// saturatedRetryAfter is suggested when a bulkhead is full: permits free up as
// requests finish, so a short pause keeps well-behaved clients from spinning.
const saturatedRetryAfter = time.Second

// probeRetryAfter is suggested when a breaker is half-open with every probe
// slot taken: the probes' own latency decides, which the router cannot know.
const probeRetryAfter = time.Second

// UnavailableError is returned by Select when the request must not go upstream
// now. It wraps ErrNoHealthyProvider or ErrSaturated.
type UnavailableError struct {
	// Model is the requested client-facing model.
	Model string
	// RetryAfter is when trying again may succeed: for open breakers, the
	// earliest moment one of them lets a probe through. Never negative; round
	// it up to whole seconds for a Retry-After header.
	RetryAfter time.Duration
	// Err is ErrNoHealthyProvider or ErrSaturated.
	Err error
}

// Error implements error.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v for model %q (retry after %v)", e.Err, e.Model, e.RetryAfter)
}

// Unwrap exposes the sentinel to errors.Is.
func (e *UnavailableError) Unwrap() error { return e.Err }
