// Package config is the sidecar's configuration schema: one YAML file, decoded
// strictly, defaulted, and validated as a whole so every problem is reported at
// once with its path in the file. Secrets (provider API keys, the admin token,
// Redis passwords) are never in the file: it names environment variables or files
// that hold them, and Load resolves them.
package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Config is the whole sidecar configuration.
type Config struct {
	Server     Server      `json:"server"`
	Providers  []Provider  `json:"providers"`
	Models     []Model     `json:"models"`
	Consumers  []Consumer  `json:"consumers"`
	Quota      Quota       `json:"quota"`
	Guardrails Guardrails  `json:"guardrails"`
	Resilience Resilience  `json:"resilience"`
	Chaos      []ChaosRule `json:"chaos,omitempty"`
	Telemetry  Telemetry   `json:"telemetry"`

	// secrets holds credentials resolved from the environment or files; it is
	// unexported so the config can be printed or logged without leaking them.
	secrets secrets
}

type secrets struct {
	providerKeys  map[string]string
	adminToken    string
	redisPassword string
}

// ProviderKey returns the credential resolved for a provider ("" when it has none).
func (c *Config) ProviderKey(provider string) string { return c.secrets.providerKeys[provider] }

// AdminToken returns the token protecting the admin usage endpoint ("" disables it).
func (c *Config) AdminToken() string { return c.secrets.adminToken }

// RedisPassword returns the resolved Redis password.
func (c *Config) RedisPassword() string { return c.secrets.redisPassword }

// Server configures the sidecar's listeners.
type Server struct {
	// GRPCListen is where Envoy reaches the ext_proc service: "host:port" or
	// "unix:///path/to.sock".
	GRPCListen string `json:"grpc_listen"`
	// AdminListen serves /healthz, /readyz, /metrics and the usage endpoint.
	AdminListen string `json:"admin_listen"`
	// RoutingHeader is the header Envoy's route reads as cluster_header.
	RoutingHeader string `json:"routing_header"`
	// MaxConcurrentStreams bounds gRPC streams per Envoy connection.
	MaxConcurrentStreams uint32 `json:"max_concurrent_streams"`
	// MaxMessageBytes bounds one ext_proc message; it must exceed Envoy's buffer limit.
	MaxMessageBytes int `json:"max_message_bytes"`
	// ShutdownTimeout is how long in-flight streams may drain on shutdown.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
	// TLS, when both files are set, serves gRPC over TLS.
	TLSCertFile string `json:"tls_cert_file,omitempty"`
	TLSKeyFile  string `json:"tls_key_file,omitempty"`
	// AdminTokenEnv / AdminTokenFile name where the admin API token is read from.
	AdminTokenEnv  string `json:"admin_token_env,omitempty"`
	AdminTokenFile string `json:"admin_token_file,omitempty"`
	// Pprof serves Go's profiler under /debug/pprof/ on the admin listener.
	// Off by default: profiles expose internals and cost CPU while taken.
	Pprof bool `json:"pprof,omitempty"`
}

// Provider is one upstream: an Envoy cluster speaking the OpenAI API.
type Provider struct {
	Name string `json:"name"`
	// Kind is "openai" or "vllm"; both speak the OpenAI API.
	Kind string `json:"kind"`
	// Cluster is the Envoy cluster name set in the routing header.
	Cluster string `json:"cluster"`
	// APIKeyEnv / APIKeyFile name where the provider credential is read from.
	APIKeyEnv  string `json:"api_key_env,omitempty"`
	APIKeyFile string `json:"api_key_file,omitempty"`
	// Headers are extra request headers sent to this provider (not secrets).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout is handed to Envoy as x-envoy-upstream-rq-timeout-ms.
	Timeout Duration `json:"timeout"`
	// MaxRetries is handed to Envoy as x-envoy-max-retries.
	MaxRetries int `json:"max_retries"`
	// MaxConcurrent bounds in-flight requests to this provider (0 = unbounded).
	MaxConcurrent int      `json:"max_concurrent"`
	Breaker       *Breaker `json:"breaker,omitempty"`
}

// Breaker configures passive circuit breaking of a provider.
type Breaker struct {
	// FailureThreshold failures within Window open the breaker.
	FailureThreshold int      `json:"failure_threshold"`
	Window           Duration `json:"window"`
	// OpenFor is how long the breaker stays open before half-open probes.
	OpenFor Duration `json:"open_for"`
	// HalfOpenProbes successful probes close it again.
	HalfOpenProbes int `json:"half_open_probes"`
}

// Model maps a client-facing model name to provider deployments.
type Model struct {
	Name        string       `json:"name"`
	Deployments []Deployment `json:"deployments"`
	// Sticky keeps a consumer on the same deployment while it is healthy.
	Sticky bool `json:"sticky,omitempty"`
}

// Deployment is one provider serving a model under its own model name.
type Deployment struct {
	Provider string `json:"provider"`
	// Model is the provider's model name; defaults to the client-facing name.
	Model  string `json:"model,omitempty"`
	Weight int    `json:"weight,omitempty"`
}

// Consumer is one API client: its keys, what it may use, and its limits.
type Consumer struct {
	ID string `json:"id"`
	// KeySHA256 lists hex SHA-256 hashes of the consumer's keys (several for rotation).
	KeySHA256 []string `json:"key_sha256"`
	// Models the consumer may use; "*" allows every configured model.
	Models []string `json:"models"`
	Limits Limits   `json:"limits,omitempty"`
	// ModelLimits apply in addition to Limits when the consumer uses that model.
	ModelLimits map[string]Limits `json:"model_limits,omitempty"`
	// Pin forces a deployment ("provider" or "provider/model") for debugging.
	Pin string `json:"pin,omitempty"`
	// AllowPinHeader lets this consumer choose a deployment per request with the
	// x-gateway-pin header; other consumers' pin headers are ignored.
	AllowPinHeader bool `json:"allow_pin_header,omitempty"`
	// Guardrails overrides the deployment-wide guardrails for this consumer.
	Guardrails *Guardrails `json:"guardrails,omitempty"`
}

// Limits are one scope's limits; zero means unlimited.
type Limits struct {
	RequestsPerMinute int64 `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int64 `json:"tokens_per_minute,omitempty"`
	TokensPerDay      int64 `json:"tokens_per_day,omitempty"`
	TokensPerMonth    int64 `json:"tokens_per_month,omitempty"`
	MaxConcurrent     int64 `json:"max_concurrent,omitempty"`
}

// Quota configures where counters live and how trouble is handled.
type Quota struct {
	// Store is "memory" (one replica, development) or "redis".
	Store string `json:"store"`
	Redis Redis  `json:"redis,omitempty"`
	// Timeout bounds every store call, well inside Envoy's message timeout.
	Timeout Duration `json:"timeout"`
	// FailurePolicy is "closed" (fast 503 while the store is down) or "open"
	// (a local per-replica limiter stands in).
	FailurePolicy string `json:"failure_policy"`
	// DefaultMaxOutputTokens is reserved when a request sets no max_tokens.
	DefaultMaxOutputTokens int64 `json:"default_max_output_tokens"`
	// ReservationTTL frees reservations that are never reconciled (sidecar crash).
	ReservationTTL Duration `json:"reservation_ttl"`
	// PendingLimit bounds usage records kept while the store is unreachable.
	PendingLimit int `json:"pending_limit"`
	// Leases let each replica admit most requests from credit it reserved in
	// Redis ahead, instead of one Redis call per request (on by default).
	Leases Leases `json:"leases,omitempty"`
}

// Leases tune quota leases (see docs/configuration.md).
type Leases struct {
	// Enabled defaults to true; false decides every request in Redis.
	Enabled *bool `json:"enabled,omitempty"`
	// Share: a lease takes at most 1/share of any limit's remaining headroom.
	Share int64 `json:"share,omitempty"`
	// MaxAge is how long a lease admits before its unused credit goes back.
	MaxAge Duration `json:"max_age,omitempty"`
	// MaxRequests caps the requests one lease counts.
	MaxRequests int64 `json:"max_requests,omitempty"`
}

// On reports whether leases are enabled (the default).
func (l Leases) On() bool { return l.Enabled == nil || *l.Enabled }

// Redis addresses one standalone server, a Sentinel group (MasterName) or a Cluster.
type Redis struct {
	Addrs        []string `json:"addrs,omitempty"`
	MasterName   string   `json:"master_name,omitempty"`
	Username     string   `json:"username,omitempty"`
	PasswordEnv  string   `json:"password_env,omitempty"`
	PasswordFile string   `json:"password_file,omitempty"`
	DB           int      `json:"db,omitempty"`
	TLS          bool     `json:"tls,omitempty"`
	Cluster      bool     `json:"cluster,omitempty"`
	PoolSize     int      `json:"pool_size,omitempty"`
	KeyPrefix    string   `json:"key_prefix,omitempty"`
}

// Guardrails is the minimal operational safety policy.
type Guardrails struct {
	BannedWords []string `json:"banned_words,omitempty"`
	// OutputAction is "redact" or "stop" when output contains a banned word.
	OutputAction      string `json:"output_action,omitempty"`
	RedactionText     string `json:"redaction_text,omitempty"`
	MaxResponseChars  int    `json:"max_response_chars,omitempty"`
	MaxResponseTokens int    `json:"max_response_tokens,omitempty"`
}

// Resilience holds sidecar-wide backpressure settings.
type Resilience struct {
	// MaxConcurrent bounds requests in flight through this sidecar (0 = unbounded).
	MaxConcurrent int `json:"max_concurrent"`
}

// ChaosRule injects faults through Envoy's fault filter. Off unless listed.
type ChaosRule struct {
	Provider     string   `json:"provider,omitempty"`
	Model        string   `json:"model,omitempty"`
	AbortPercent float64  `json:"abort_percent,omitempty"`
	AbortStatus  int      `json:"abort_status,omitempty"`
	DelayPercent float64  `json:"delay_percent,omitempty"`
	Delay        Duration `json:"delay,omitempty"`
}

// Telemetry configures logs; metrics are always on, tracing follows OTEL_* variables.
type Telemetry struct {
	LogLevel string `json:"log_level"`
	// LogContent puts prompts and outputs in debug logs. Off by default; never
	// enable it where logs leave the machine.
	LogContent bool `json:"log_content,omitempty"`
	// LogFlushInterval batches log lines and writes them this often (default
	// 100ms; "0s" writes every line at once). Batching saves a write(2) per
	// request; a crash loses at most one interval of lines. Read at start.
	LogFlushInterval *Duration `json:"log_flush_interval,omitempty"`
}

// DefaultLogFlushInterval is telemetry.log_flush_interval when unset.
const DefaultLogFlushInterval = Duration(100e6)

// FlushInterval is the log batching interval (0: unbatched).
func (t Telemetry) FlushInterval() time.Duration {
	if t.LogFlushInterval == nil {
		return DefaultLogFlushInterval.D()
	}
	return t.LogFlushInterval.D()
}

// Duration is a time.Duration written as "250ms", "30s", "5m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration in Go syntax.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}
