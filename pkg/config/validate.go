package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/llm-gateway/gateway/pkg/auth"
)

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	headerPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	// providerPattern excludes "/": a pin "provider/model" splits on the first slash.
	providerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
)

type problems []error

func (p *problems) addf(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

// Validate returns every problem in the config, each prefixed with its path.
func (c *Config) Validate() []error {
	var p problems
	c.validateServer(&p)
	providers := c.validateProviders(&p)
	models := c.validateModels(&p, providers)
	c.validateConsumers(&p, models, providers)
	c.validateQuota(&p)
	validateGuardrails(&p, "guardrails", &c.Guardrails)
	c.validateChaos(&p, providers, models)
	if c.Resilience.MaxConcurrent < 0 {
		p.addf("resilience.max_concurrent", "must not be negative")
	}
	if d := c.Telemetry.FlushInterval(); d < 0 || d > 10*time.Second {
		p.addf("telemetry.log_flush_interval", "must be between 0s and 10s, got %v", d)
	}
	switch c.Telemetry.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.addf("telemetry.log_level", "must be debug, info, warn or error, not %q", c.Telemetry.LogLevel)
	}
	return p
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	if !strings.HasPrefix(s.GRPCListen, "unix://") {
		if _, _, err := net.SplitHostPort(s.GRPCListen); err != nil {
			p.addf("server.grpc_listen", "must be host:port or unix:///path, got %q", s.GRPCListen)
		}
	}
	if _, _, err := net.SplitHostPort(s.AdminListen); err != nil {
		p.addf("server.admin_listen", "must be host:port, got %q", s.AdminListen)
	}
	if !headerPattern.MatchString(s.RoutingHeader) || strings.HasPrefix(s.RoutingHeader, "x-envoy-") {
		p.addf("server.routing_header", "must be a lower-case header name outside x-envoy-*, got %q", s.RoutingHeader)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		p.addf("server", "tls_cert_file and tls_key_file must be set together")
	}
	if s.ShutdownTimeout < 0 {
		p.addf("server.shutdown_timeout", "must not be negative")
	}
}

func (c *Config) validateProviders(p *problems) map[string]bool {
	names := map[string]bool{}
	if len(c.Providers) == 0 {
		p.addf("providers", "at least one provider is required")
	}
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		switch {
		case !providerPattern.MatchString(pr.Name):
			p.addf(path+".name", "must be a non-empty name of letters, digits and ._:-, got %q", pr.Name)
		case names[pr.Name]:
			p.addf(path+".name", "duplicate provider %q", pr.Name)
		}
		names[pr.Name] = true
		if pr.Kind != "openai" && pr.Kind != "vllm" {
			p.addf(path+".kind", "must be openai or vllm, got %q", pr.Kind)
		}
		if !namePattern.MatchString(pr.Cluster) {
			p.addf(path+".cluster", "must be an Envoy cluster name, got %q", pr.Cluster)
		}
		if pr.Timeout <= 0 {
			p.addf(path+".timeout", "must be positive")
		}
		if pr.MaxRetries < 0 || pr.MaxRetries > 10 {
			p.addf(path+".max_retries", "must be between 0 and 10")
		}
		if pr.MaxConcurrent < 0 {
			p.addf(path+".max_concurrent", "must not be negative")
		}
		for h := range pr.Headers {
			if lh := strings.ToLower(h); lh == "authorization" || lh == "x-api-key" || strings.HasPrefix(lh, "x-envoy-") || strings.HasPrefix(lh, ":") || lh == "host" {
				p.addf(path+".headers."+h, "may not set credentials, pseudo or x-envoy-* headers")
			}
		}
		if b := pr.Breaker; b != nil {
			if b.FailureThreshold < 1 {
				p.addf(path+".breaker.failure_threshold", "must be at least 1")
			}
			if b.OpenFor <= 0 {
				p.addf(path+".breaker.open_for", "must be positive")
			}
			if b.Window < 0 || b.HalfOpenProbes < 0 {
				p.addf(path+".breaker", "window and half_open_probes must not be negative")
			}
		}
	}
	return names
}

func (c *Config) validateModels(p *problems, providers map[string]bool) map[string]bool {
	names := map[string]bool{}
	if len(c.Models) == 0 {
		p.addf("models", "at least one model is required")
	}
	for i, m := range c.Models {
		path := fmt.Sprintf("models[%d]", i)
		switch {
		case !namePattern.MatchString(m.Name):
			p.addf(path+".name", "must be a non-empty model name, got %q", m.Name)
		case names[m.Name]:
			p.addf(path+".name", "duplicate model %q", m.Name)
		}
		names[m.Name] = true
		if len(m.Deployments) == 0 {
			p.addf(path+".deployments", "at least one deployment is required")
		}
		for j, d := range m.Deployments {
			dp := fmt.Sprintf("%s.deployments[%d]", path, j)
			if !providers[d.Provider] {
				p.addf(dp+".provider", "unknown provider %q", d.Provider)
			}
			if d.Weight < 0 {
				p.addf(dp+".weight", "must not be negative")
			}
		}
	}
	return names
}

func (c *Config) validateConsumers(p *problems, models, providers map[string]bool) {
	ids := map[string]bool{}
	hashes := map[string]string{}
	for i, cs := range c.Consumers {
		path := fmt.Sprintf("consumers[%d]", i)
		switch {
		case !namePattern.MatchString(cs.ID):
			p.addf(path+".id", "must be a non-empty id, got %q", cs.ID)
		case ids[cs.ID]:
			p.addf(path+".id", "duplicate consumer %q", cs.ID)
		}
		ids[cs.ID] = true
		if len(cs.KeySHA256) == 0 {
			p.addf(path+".key_sha256", "at least one key hash is required (generate one with `gateway keygen`)")
		}
		for j, h := range cs.KeySHA256 {
			hp := fmt.Sprintf("%s.key_sha256[%d]", path, j)
			if _, err := auth.ParseHash(h); err != nil {
				p.addf(hp, "%v", err)
			} else if other, dup := hashes[strings.ToLower(h)]; dup {
				p.addf(hp, "the same key hash is already listed at %s", other)
			}
			hashes[strings.ToLower(h)] = hp
		}
		if len(cs.Models) == 0 {
			p.addf(path+".models", "list the models this consumer may use, or \"*\" for all")
		}
		for j, m := range cs.Models {
			if m != "*" && !models[m] {
				p.addf(fmt.Sprintf("%s.models[%d]", path, j), "unknown model %q", m)
			}
		}
		validateLimits(p, path+".limits", cs.Limits)
		for m, l := range cs.ModelLimits {
			if !models[m] {
				p.addf(path+".model_limits."+m, "unknown model %q", m)
			}
			validateLimits(p, path+".model_limits."+m, l)
		}
		if cs.Pin != "" {
			prov, _, _ := strings.Cut(cs.Pin, "/")
			if !providers[prov] {
				p.addf(path+".pin", "unknown provider %q", prov)
			}
		}
		if cs.Guardrails != nil {
			validateGuardrails(p, path+".guardrails", cs.Guardrails)
		}
	}
}

func validateLimits(p *problems, path string, l Limits) {
	for name, v := range map[string]int64{
		"requests_per_minute": l.RequestsPerMinute, "tokens_per_minute": l.TokensPerMinute,
		"tokens_per_day": l.TokensPerDay, "tokens_per_month": l.TokensPerMonth, "max_concurrent": l.MaxConcurrent,
	} {
		if v < 0 {
			p.addf(path+"."+name, "must not be negative (0 means unlimited)")
		}
	}
}

func (c *Config) validateQuota(p *problems) {
	q := c.Quota
	switch q.Store {
	case "memory":
	case "redis":
		if len(q.Redis.Addrs) == 0 {
			p.addf("quota.redis.addrs", "at least one address is required for the redis store")
		}
		for i, a := range q.Redis.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				p.addf(fmt.Sprintf("quota.redis.addrs[%d]", i), "must be host:port, got %q", a)
			}
		}
		if q.Redis.Cluster && q.Redis.MasterName != "" {
			p.addf("quota.redis", "cluster and master_name (Sentinel) are mutually exclusive")
		}
	default:
		p.addf("quota.store", "must be memory or redis, got %q", q.Store)
	}
	if q.FailurePolicy != "closed" && q.FailurePolicy != "open" {
		p.addf("quota.failure_policy", "must be closed or open, got %q", q.FailurePolicy)
	}
	if q.Timeout <= 0 || q.Timeout.D().Seconds() > 1 {
		p.addf("quota.timeout", "must be positive and at most 1s (it must fit inside Envoy's message timeout)")
	}
	if q.DefaultMaxOutputTokens < 1 {
		p.addf("quota.default_max_output_tokens", "must be at least 1")
	}
	if q.ReservationTTL <= 0 {
		p.addf("quota.reservation_ttl", "must be positive")
	}
	if q.PendingLimit < 0 {
		p.addf("quota.pending_limit", "must not be negative")
	}
	if q.Leases.Share < 2 {
		p.addf("quota.leases.share", "must be at least 2")
	}
	if q.Leases.MaxAge.D() < 10*time.Millisecond || q.Leases.MaxAge.D() > time.Minute {
		p.addf("quota.leases.max_age", "must be between 10ms and 1m (a lease ends with its minute anyway)")
	}
	if q.Leases.MaxRequests < 2 {
		p.addf("quota.leases.max_requests", "must be at least 2")
	}
}

func validateGuardrails(p *problems, path string, g *Guardrails) {
	if g.OutputAction != "" && g.OutputAction != "redact" && g.OutputAction != "stop" {
		p.addf(path+".output_action", "must be redact or stop, got %q", g.OutputAction)
	}
	for i, w := range g.BannedWords {
		if strings.TrimSpace(w) == "" {
			p.addf(fmt.Sprintf("%s.banned_words[%d]", path, i), "must not be empty")
		}
	}
	if g.MaxResponseChars < 0 || g.MaxResponseTokens < 0 {
		p.addf(path, "max_response_chars and max_response_tokens must not be negative")
	}
}

func (c *Config) validateChaos(p *problems, providers, models map[string]bool) {
	for i, r := range c.Chaos {
		path := fmt.Sprintf("chaos[%d]", i)
		if r.Provider == "" && r.Model == "" {
			p.addf(path, "name a provider, a model or both")
		}
		if r.Provider != "" && !providers[r.Provider] {
			p.addf(path+".provider", "unknown provider %q", r.Provider)
		}
		if r.Model != "" && !models[r.Model] {
			p.addf(path+".model", "unknown model %q", r.Model)
		}
		if r.AbortPercent < 0 || r.AbortPercent > 100 || r.DelayPercent < 0 || r.DelayPercent > 100 {
			p.addf(path, "percentages must be between 0 and 100")
		}
		if r.AbortPercent > 0 && (r.AbortStatus < 200 || r.AbortStatus > 599) {
			p.addf(path+".abort_status", "must be an HTTP status between 200 and 599")
		}
		if r.DelayPercent > 0 && r.Delay <= 0 {
			p.addf(path+".delay", "must be positive when delay_percent is set")
		}
	}
}
