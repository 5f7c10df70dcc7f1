package router_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/llm-gateway/gateway/pkg/router"
)

// The request-body phase selects, sets the Envoy headers and rewrites the
// model; the response phase reports the outcome through Done.
func Example() {
	r, err := router.New(router.Options{
		Providers: []router.Provider{{
			Name: "openai", Cluster: "openai", Timeout: 60 * time.Second, MaxRetries: 1, MaxConcurrent: 100,
			Breaker: router.BreakerSettings{FailureThreshold: 5, Window: 10 * time.Second, OpenFor: 30 * time.Second},
		}},
		Routes: []router.Route{{Model: "gpt-4o", Deployments: []router.Deployment{{Provider: "openai", Model: "gpt-4o-2024-08-06", Weight: 1}}}},
	})
	if err != nil {
		panic(err)
	}
	sel, err := r.Select(router.Request{Model: "gpt-4o", Consumer: "team-a"})
	var unavailable *router.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		fmt.Println("503, retry after", unavailable.RetryAfter)
		return
	case err != nil:
		fmt.Println("4xx:", err)
		return
	}
	for _, h := range sel.EnvoyHeaders() {
		fmt.Printf("%s: %s\n", h[0], h[1])
	}
	fmt.Println("model:", sel.UpstreamModel)
	sel.Done(router.OutcomeFromStatus(200))
	// Output:
	// x-gateway-cluster: openai
	// x-envoy-upstream-rq-timeout-ms: 60000
	// x-envoy-max-retries: 1
	// model: gpt-4o-2024-08-06
}
