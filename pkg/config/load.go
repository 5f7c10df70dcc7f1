package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// Env supplies secrets. Tests pass a map; the binary passes os.Getenv and os.ReadFile.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// OSEnv reads secrets from the process environment and the file system.
func OSEnv() Env { return Env{Getenv: os.Getenv, ReadFile: os.ReadFile} }

// Load reads, decodes, defaults, validates and resolves the secrets of the file at path.
func Load(path string, env Env) (*Config, error) {
	data, err := env.readFile()(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, env)
}

// Parse is Load on bytes already read.
func Parse(data []byte, env Env) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	c.applyDefaults()
	errs := c.Validate()
	errs = append(errs, c.resolveSecrets(env)...)
	if len(errs) > 0 {
		return nil, &ValidationError{Problems: errs}
	}
	return &c, nil
}

// ValidationError lists every problem found in a config, each prefixed with its path.
type ValidationError struct{ Problems []error }

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid config (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.Is/As.
func (e *ValidationError) Unwrap() []error { return e.Problems }

func (env Env) readFile() func(string) ([]byte, error) {
	if env.ReadFile != nil {
		return env.ReadFile
	}
	return func(string) ([]byte, error) { return nil, errors.New("no file access configured") }
}

func (env Env) getenv(name string) string {
	if env.Getenv == nil {
		return ""
	}
	return env.Getenv(name)
}

// secret reads one secret from an environment variable or a file. required
// secrets that resolve empty are errors: the gateway fails closed rather than
// calling a provider without its credential.
func (env Env) secret(path, fromEnv, fromFile string, required bool) (string, error) {
	switch {
	case fromEnv != "" && fromFile != "":
		return "", fmt.Errorf("%s: set only one of *_env and *_file", path)
	case fromEnv != "":
		v := strings.TrimSpace(env.getenv(fromEnv))
		if v == "" && required {
			return "", fmt.Errorf("%s: environment variable %s is empty or unset", path, fromEnv)
		}
		return v, nil
	case fromFile != "":
		b, err := env.readFile()(fromFile)
		if err != nil {
			return "", fmt.Errorf("%s: read secret file: %w", path, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" && required {
			return "", fmt.Errorf("%s: secret file %s is empty", path, fromFile)
		}
		return v, nil
	}
	return "", nil
}

func (c *Config) resolveSecrets(env Env) []error {
	var errs []error
	c.secrets.providerKeys = make(map[string]string, len(c.Providers))
	for i, p := range c.Providers {
		v, err := env.secret(fmt.Sprintf("providers[%d]", i), p.APIKeyEnv, p.APIKeyFile, true)
		if err != nil {
			errs = append(errs, err)
		}
		c.secrets.providerKeys[p.Name] = v
	}
	var err error
	if c.secrets.adminToken, err = env.secret("server", c.Server.AdminTokenEnv, c.Server.AdminTokenFile, true); err != nil {
		errs = append(errs, err)
	}
	if c.secrets.redisPassword, err = env.secret("quota.redis", c.Quota.Redis.PasswordEnv, c.Quota.Redis.PasswordFile, true); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (c *Config) applyDefaults() {
	s := &c.Server
	setDefault(&s.GRPCListen, "127.0.0.1:50051")
	setDefault(&s.AdminListen, "127.0.0.1:9090")
	setDefault(&s.RoutingHeader, "x-gateway-cluster")
	if s.MaxConcurrentStreams == 0 {
		s.MaxConcurrentStreams = 10000
	}
	if s.MaxMessageBytes == 0 {
		s.MaxMessageBytes = 16 << 20 // twice Envoy's 8 MiB buffer limit
	}
	if s.ShutdownTimeout == 0 {
		s.ShutdownTimeout = Duration(25e9)
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		setDefault(&p.Kind, "openai")
		setDefault(&p.Cluster, p.Name)
		if p.Timeout == 0 {
			p.Timeout = Duration(120e9)
		}
	}
	for i := range c.Models {
		for j := range c.Models[i].Deployments {
			d := &c.Models[i].Deployments[j]
			setDefault(&d.Model, c.Models[i].Name)
			if d.Weight == 0 {
				d.Weight = 1
			}
		}
	}
	q := &c.Quota
	setDefault(&q.Store, "memory")
	setDefault(&q.FailurePolicy, "closed")
	if q.Timeout == 0 {
		q.Timeout = Duration(50e6)
	}
	if q.DefaultMaxOutputTokens == 0 {
		q.DefaultMaxOutputTokens = 4096
	}
	if q.ReservationTTL == 0 {
		q.ReservationTTL = Duration(600e9)
	}
	if q.PendingLimit == 0 {
		q.PendingLimit = 100000
	}
	if q.Leases.Share == 0 {
		q.Leases.Share = 16
	}
	if q.Leases.MaxAge == 0 {
		q.Leases.MaxAge = Duration(1e9)
	}
	if q.Leases.MaxRequests == 0 {
		q.Leases.MaxRequests = 1024
	}
	setDefault(&c.Guardrails.OutputAction, "redact")
	setDefault(&c.Telemetry.LogLevel, "info")
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}
