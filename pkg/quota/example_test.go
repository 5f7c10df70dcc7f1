package quota_test

import (
	"context"
	"fmt"
	"time"

	"github.com/llm-gateway/gateway/pkg/quota"
)

// The request path of one chat completion: admission at request headers,
// reservation once the body is parsed, reconciliation when usage is known.
// Production passes a RedisStore (quota.NewRedisStore(client, ...)).
func Example() {
	lim, err := quota.NewLimiter(quota.Options{
		Store: quota.NewMemoryStore(),
		Clock: func() time.Time { return time.Date(2025, 3, 14, 10, 0, 59, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	defer lim.Close(context.Background())
	ctx := context.Background()
	s := quota.Subject{Consumer: "team-a", Limits: quota.Limits{RequestsPerMinute: 60, TokensPerMinute: 1000}}

	if d, err := lim.AdmitRequest(ctx, s); err != nil || !d.Allowed {
		panic("denied at headers")
	}
	r, d, err := lim.Reserve(ctx, s, 900) // prompt estimate + max output tokens
	if err != nil || !d.Allowed {
		panic("denied at body")
	}
	_, denied, _ := lim.Reserve(ctx, s, 200) // a second request does not fit
	fmt.Println(denied.Message())
	for _, h := range denied.Headers() {
		fmt.Printf("%s: %s\n", h[0], h[1])
	}
	// Later, with the usage the provider reported, on a fresh context.
	if err := lim.Reconcile(context.Background(), r, 350); err != nil {
		panic(err)
	}
	// Output:
	// Rate limit reached for tokens per minute: Limit 1000, Used 900, Requested 200. Please try again in 7.601s.
	// x-ratelimit-limit-requests: 60
	// x-ratelimit-remaining-requests: 59
	// x-ratelimit-reset-requests: 1.001s
	// x-ratelimit-limit-tokens: 1000
	// x-ratelimit-remaining-tokens: 100
	// x-ratelimit-reset-tokens: 1m0.934s
	// retry-after: 8
	// retry-after-ms: 7601
	// x-should-retry: true
}
