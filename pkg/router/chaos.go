package router

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Envoy fault filter header names (header_abort / header_delay).
const (
	HeaderFaultAbort           = "x-envoy-fault-abort-request"
	HeaderFaultAbortPercentage = "x-envoy-fault-abort-request-percentage"
	HeaderFaultDelay           = "x-envoy-fault-delay-request"
	HeaderFaultDelayPercentage = "x-envoy-fault-delay-request-percentage"
)

// Percentage denominators Envoy's FractionalPercent knows.
const (
	denominatorHundred     = 100
	denominatorTenThousand = 10000
	denominatorMillion     = 1000000
)

const (
	maxPercent     = 100.0
	minFaultStatus = 200
	maxFaultStatus = 599
)

// ChaosRule injects faults into requests that match it, through Envoy's fault
// filter: the router only sets headers, and Envoy flips the coin. Provider and
// Model (the client-facing name) narrow the rule; at least one must be set. A
// request gets the first matching rule only, so list specific rules first.
type ChaosRule struct {
	// Name labels the rule in logs and metrics (default "chaos[i]").
	Name     string
	Provider string
	Model    string
	// AbortPercent of matching requests get AbortStatus from Envoy without
	// reaching the provider.
	AbortPercent float64
	AbortStatus  int
	// DelayPercent of matching requests are held for Delay first.
	DelayPercent float64
	Delay        time.Duration
}

func (c ChaosRule) matches(provider, model string) bool {
	return (c.Provider == "" || c.Provider == provider) && (c.Model == "" || c.Model == model)
}

// Chaos is the fault decision for a selection: header values for Envoy's
// fault filter and a label. It is shared between requests; do not modify it.
type Chaos struct {
	// Label names the rule for logs and metrics.
	Label        string
	AbortStatus  int
	AbortPercent float64
	Delay        time.Duration
	DelayPercent float64
	headers      [][2]string
}

// Headers returns the fault filter headers to set. Do not modify the result.
func (c *Chaos) Headers() [][2]string {
	if c == nil {
		return nil
	}
	return c.headers
}

// compileChaos validates a rule and precomputes its headers. denominator is the
// fault filter's percentage denominator, which Envoy divides the header by.
func compileChaos(i int, r ChaosRule, denominator int) (*Chaos, []error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("chaos[%d]: "+format, append([]any{i}, args...)...))
	}
	c := &Chaos{Label: r.Name}
	if c.Label == "" {
		c.Label = fmt.Sprintf("chaos[%d]", i)
	}
	if r.Provider == "" && r.Model == "" {
		bad("name a provider, a model or both")
	}
	if r.AbortPercent <= 0 && r.DelayPercent <= 0 {
		bad("set abort_percent or delay_percent")
	}
	if r.AbortPercent > 0 {
		if r.AbortStatus < minFaultStatus || r.AbortStatus > maxFaultStatus {
			bad("abort status %d is not between 200 and 599", r.AbortStatus)
		}
		n, err := faultNumerator(r.AbortPercent, denominator)
		if err != nil {
			bad("abort: %w", err)
		}
		c.AbortStatus, c.AbortPercent = r.AbortStatus, r.AbortPercent
		c.headers = append(c.headers,
			[2]string{HeaderFaultAbort, strconv.Itoa(r.AbortStatus)},
			[2]string{HeaderFaultAbortPercentage, strconv.Itoa(n)})
	}
	if r.DelayPercent > 0 {
		if r.Delay < time.Millisecond {
			bad("delay %v must be at least 1ms", r.Delay)
		}
		n, err := faultNumerator(r.DelayPercent, denominator)
		if err != nil {
			bad("delay: %w", err)
		}
		c.Delay, c.DelayPercent = r.Delay, r.DelayPercent
		c.headers = append(c.headers,
			[2]string{HeaderFaultDelay, strconv.FormatInt(r.Delay.Milliseconds(), 10)},
			[2]string{HeaderFaultDelayPercentage, strconv.Itoa(n)})
	}
	return c, errs
}

// faultNumerator turns a percentage into the integer numerator Envoy expects.
// A non-zero percentage that rounds to zero is an error rather than a silent
// "no faults": the operator asked for faults.
func faultNumerator(percent float64, denominator int) (int, error) {
	if math.IsNaN(percent) || percent > maxPercent {
		return 0, fmt.Errorf("percentage %v is not between 0 and 100", percent)
	}
	n := int(math.Round(percent / maxPercent * float64(denominator)))
	if n == 0 {
		return 0, fmt.Errorf("percentage %v is below the fault filter's resolution 1/%d; raise its denominator", percent, denominator)
	}
	return n, nil
}

func validDenominator(d int) bool {
	return d == denominatorHundred || d == denominatorTenThousand || d == denominatorMillion
}
