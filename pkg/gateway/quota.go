package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// newLimiter builds the quota limiter on the configured store.
func newLimiter(cfg *config.Config, log *slog.Logger, m *telemetry.Metrics) (*quota.Limiter, func() error, error) {
	q := cfg.Quota
	var store quota.Store = quota.NewMemoryStore()
	closeStore := func() error { return nil }
	if q.Store == "redis" {
		// go-redis reports some events (dial failures) through its own
		// process-wide logger, plain text on stderr by default; keep the log
		// stream JSON. (The setting is atomic; the last gateway started wins.)
		redis.SetLogger(redisClientLog{log})
		client := redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:         q.Redis.Addrs,
			MasterName:    q.Redis.MasterName,
			IsClusterMode: q.Redis.Cluster,
			Username:      q.Redis.Username,
			Password:      cfg.RedisPassword(),
			DB:            q.Redis.DB,
			PoolSize:      q.Redis.PoolSize,
			TLSConfig:     tlsConfig(q.Redis.TLS),
			// The limiter bounds every call with a context deadline; go-redis
			// must honour it rather than its own, longer timeouts.
			ContextTimeoutEnabled: true,
			// No client retries: a quota script retried after a lost answer may
			// run twice. The limiter handles ambiguous failures itself.
			MaxRetries:  -1,
			DialTimeout: time.Second,
			// One dial attempt: the limiter's breaker paces reconnects, and
			// go-redis's dial retries would hold a usage batch (and a
			// shutdown) for seconds while Redis is down.
			DialerRetries: 1,
		})
		rs, err := quota.NewRedisStore(client, quota.RedisStoreOptions{KeyPrefix: q.Redis.KeyPrefix})
		if err != nil {
			client.Close()
			return nil, nil, fmt.Errorf("quota store: %w", err)
		}
		store, closeStore = rs, client.Close
	}
	policy, err := quota.ParseFailurePolicy(q.FailurePolicy)
	if err != nil {
		return nil, nil, err
	}
	lim, err := quota.NewLimiter(quota.Options{
		Store: store, FailurePolicy: policy, Timeout: q.Timeout.D(),
		ReservationTTL: q.ReservationTTL.D(), PendingLimit: q.PendingLimit,
		// Usage is written after the response by the background flusher in
		// batches; with leases most admissions need no Redis round trip either.
		BackgroundUsage: true,
		Leases: quota.LeaseOptions{Enabled: q.Leases.On(), Share: q.Leases.Share,
			MaxAge: q.Leases.MaxAge.D(), MaxRequests: q.Leases.MaxRequests},
		Logger: log, Observer: quotaObserver{m: m},
	})
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	return lim, closeStore, nil
}

func tlsConfig(on bool) *tls.Config {
	if !on {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// quotaObserver turns limiter events into metrics.
type quotaObserver struct {
	quota.NopObserver
	m *telemetry.Metrics
}

func (o quotaObserver) StoreLatency(op string, d time.Duration) { o.m.ObserveQuotaStore(op, d, nil) }
func (o quotaObserver) StoreError(op string, _ error)           { o.m.QuotaStoreError(op) }
func (o quotaObserver) Fallback(string)                         { o.m.QuotaFallback() }
func (o quotaObserver) PendingDepth(n int)                      { o.m.SetQuotaPending(n) }
func (o quotaObserver) PendingDropped()                         { o.m.QuotaPendingDropped(1) }
func (o quotaObserver) Lease(granted bool)                      { o.m.QuotaLease(granted) }
func (o quotaObserver) LeasedAdmission()                        { o.m.QuotaLeasedAdmission() }

// redisClientLog turns go-redis's own messages into JSON log lines.
type redisClientLog struct{ log *slog.Logger }

func (r redisClientLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn("redis client", "message", fmt.Sprintf(format, v...))
}
