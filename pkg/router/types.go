package router

import (
	"time"
)

// DefaultClusterHeader is the header Envoy's route reads as cluster_header.
const DefaultClusterHeader = "x-gateway-cluster"

// Provider is one upstream: an Envoy cluster speaking the OpenAI API.
type Provider struct {
	// Name identifies the provider in routes, pins, metrics and logs. It may not
	// contain "/" because a pin "provider/model" splits on the first slash.
	Name string
	// Cluster is the Envoy cluster name, the value of the cluster header.
	Cluster string
	// Timeout is handed to Envoy as x-envoy-upstream-rq-timeout-ms; zero leaves
	// the route's timeout in force.
	Timeout time.Duration
	// MaxRetries is handed to Envoy as x-envoy-max-retries.
	MaxRetries int
	// MaxConcurrent bounds requests in flight to this provider (0 = unlimited).
	MaxConcurrent int
	// Breaker configures passive circuit breaking from request outcomes.
	Breaker BreakerSettings
}

// BreakerSettings configures a provider's circuit breaker. The zero value
// disables it: the provider is always considered healthy.
type BreakerSettings struct {
	// FailureThreshold failures open the breaker: consecutive ones when Window is
	// zero, else that many within the rolling Window. Zero disables the breaker.
	FailureThreshold int
	// Window is the rolling period failures are counted in. failsafe-go measures
	// it with the wall clock (its clock cannot be injected); OpenFor, which is
	// what tests need to control, uses the Router's clock.
	Window time.Duration
	// OpenFor is how long the breaker rejects before letting probes through.
	OpenFor time.Duration
	// HalfOpenProbes is both how many probe requests may be in flight while
	// half-open and how many must succeed to close it (default 1). Any probe
	// failure re-opens it.
	HalfOpenProbes int
}

// enabled reports whether the settings describe a working breaker.
func (b BreakerSettings) enabled() bool { return b.FailureThreshold > 0 }

// probes returns the half-open probe count with its default applied.
func (b BreakerSettings) probes() int { return max(b.HalfOpenProbes, 1) }

// Deployment is one provider serving a route under the provider's model name.
type Deployment struct {
	Provider string
	// Model is the provider's model name; empty means the route's model name.
	Model string
	// Weight is the deployment's share of unpinned traffic. Zero makes the
	// deployment reachable only through a pin (a dark launch); the weights of a
	// route must not all be zero.
	Weight int
}

// Route maps a client-facing model name to its deployments.
type Route struct {
	Model       string
	Deployments []Deployment
	// Sticky sends a consumer to the same deployment while that deployment is
	// healthy (weighted rendezvous hashing), so provider-side prompt caches work.
	Sticky bool
}

// Request is what the router needs to know about one request.
type Request struct {
	// Model is the client-facing model name.
	Model string
	// Consumer identifies the caller; sticky routes hash it (requests without
	// one all stick together).
	Consumer string
	// Pin forces a deployment: "provider" or "provider/model" (the provider's
	// model name, which may itself contain slashes). It comes from a key's
	// configured pin or a header the caller is allowed to send.
	Pin string
}

// Options configure a Router. Only Providers and Routes are required.
type Options struct {
	Providers []Provider
	Routes    []Route
	// MaxConcurrent bounds requests in flight through the whole sidecar
	// (0 = unlimited).
	MaxConcurrent int
	// Chaos lists fault injection rules; empty means no faults ever.
	Chaos []ChaosRule
	// ClusterHeader is the header Envoy's route uses as cluster_header
	// (default DefaultClusterHeader).
	ClusterHeader string
	// FaultDenominator must equal the denominator of the fault filter's
	// percentage in envoy.yaml (HUNDRED = 100, TEN_THOUSAND = 10000,
	// MILLION = 1000000): Envoy reads the percentage headers as its numerator.
	// Default 100.
	FaultDenominator int
	// Observer receives breaker transitions and rejections (default: none).
	Observer Observer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand returns uniformly distributed numbers and must be safe for
	// concurrent use (default math/rand/v2.Uint64).
	Rand func() uint64
	// Previous is the Router being replaced by a config reload. Breakers and
	// bulkheads of providers whose settings did not change are shared with it,
	// so an open breaker stays open and in-flight requests keep counting.
	Previous *Router
}
