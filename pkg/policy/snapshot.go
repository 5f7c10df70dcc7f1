// Package policy compiles a validated configuration into the immutable set of
// lookups a request runs under. A config reload compiles a new Snapshot and swaps
// it in atomically; a request keeps the Snapshot it started with to the end.
package policy

import (
	"fmt"
	"sort"
	"time"

	"github.com/llm-gateway/gateway/pkg/auth"
	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/router"
)

// Snapshot is one compiled configuration. It is never mutated after Compile.
type Snapshot struct {
	Config    *config.Config
	Keyring   *auth.Keyring
	Consumers map[string]*Consumer
	Models    map[string]*config.Model
	Providers map[string]*Provider
	// ModelNames lists client-facing model names, sorted.
	ModelNames []string
	// Router selects deployments; it carries breaker state across reloads.
	Router *router.Router
	// Version increases with each successful reload, for logs and metrics.
	Version uint64

	guardrail          *guardrail.Policy
	consumerGuardrails map[string]*guardrail.Policy
}

// CompileOptions are the inputs of Compile besides the config.
type CompileOptions struct {
	Version uint64
	// Previous is the snapshot being replaced; its router's breaker state and
	// bulkheads carry over.
	Previous *Snapshot
	// RouterObserver receives breaker transitions and rejections.
	RouterObserver router.Observer
	// Now and Rand are injected into the router (defaults: wall clock, math/rand/v2).
	Now  func() time.Time
	Rand func() uint64
}

// Consumer is a configured consumer with its model allow-list precomputed.
type Consumer struct {
	config.Consumer
	allowAll bool
	allowed  map[string]bool
}

// MayUse reports whether the consumer may call model.
func (c *Consumer) MayUse(model string) bool { return c.allowAll || c.allowed[model] }

// Provider is a configured provider with its credential resolved.
type Provider struct {
	config.Provider
	// APIKey is the provider credential ("" when the provider needs none).
	APIKey string
}

// Compile builds a Snapshot from a validated config.
func Compile(cfg *config.Config, opts CompileOptions) (*Snapshot, error) {
	version := opts.Version
	s := &Snapshot{
		Config:    cfg,
		Consumers: make(map[string]*Consumer, len(cfg.Consumers)),
		Models:    make(map[string]*config.Model, len(cfg.Models)),
		Providers: make(map[string]*Provider, len(cfg.Providers)),
		Version:   version,
	}
	var entries []auth.Entry
	for _, c := range cfg.Consumers {
		pc := &Consumer{Consumer: c, allowed: map[string]bool{}}
		for _, m := range c.Models {
			if m == "*" {
				pc.allowAll = true
			}
			pc.allowed[m] = true
		}
		s.Consumers[c.ID] = pc
		for _, h := range c.KeySHA256 {
			entries = append(entries, auth.Entry{Consumer: c.ID, SHA256: h})
		}
	}
	ring, err := auth.NewKeyring(entries)
	if err != nil {
		return nil, fmt.Errorf("compile keys: %w", err)
	}
	s.Keyring = ring
	for i := range cfg.Models {
		m := &cfg.Models[i]
		s.Models[m.Name] = m
		s.ModelNames = append(s.ModelNames, m.Name)
	}
	sort.Strings(s.ModelNames)
	for _, p := range cfg.Providers {
		s.Providers[p.Name] = &Provider{Provider: p, APIKey: cfg.ProviderKey(p.Name)}
	}
	if err := s.compileGuardrails(cfg); err != nil {
		return nil, err
	}
	ropts := routerOptions(cfg)
	ropts.Observer, ropts.Now, ropts.Rand = opts.RouterObserver, opts.Now, opts.Rand
	if opts.Previous != nil {
		ropts.Previous = opts.Previous.Router
	}
	if s.Router, err = router.New(ropts); err != nil {
		return nil, fmt.Errorf("compile routes: %w", err)
	}
	return s, nil
}

// ModelsFor lists the client-facing models a consumer may use, sorted.
func (s *Snapshot) ModelsFor(c *Consumer) []string {
	out := make([]string, 0, len(s.ModelNames))
	for _, m := range s.ModelNames {
		if c.MayUse(m) {
			out = append(out, m)
		}
	}
	return out
}
