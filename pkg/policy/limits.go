package policy

import (
	"fmt"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/guardrail"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/tokens"
)

// Subject is who a request is charged to: the consumer's limits, plus the
// model's limits when the consumer has some for that model ("" model: headers
// phase, before the body names one).
func (c *Consumer) Subject(model string) quota.Subject {
	s := quota.Subject{Consumer: c.ID, Limits: quotaLimits(c.Limits)}
	if ml, ok := c.ModelLimits[model]; ok && model != "" {
		s.Model = model
		s.ModelLimits = quotaLimits(ml)
	}
	return s
}

func quotaLimits(l config.Limits) quota.Limits {
	return quota.Limits{
		RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute,
		TokensPerDay: l.TokensPerDay, TokensPerMonth: l.TokensPerMonth, MaxConcurrent: l.MaxConcurrent,
	}
}

// Guardrail returns the content policy that applies to the consumer.
func (s *Snapshot) Guardrail(c *Consumer) *guardrail.Policy {
	if p, ok := s.consumerGuardrails[c.ID]; ok {
		return p
	}
	return s.guardrail
}

func compileGuardrail(g config.Guardrails) (*guardrail.Policy, error) {
	return guardrail.New(guardrail.Options{
		Banned: g.BannedWords, Action: guardrail.Action(g.OutputAction), Redaction: g.RedactionText,
		MaxChars: g.MaxResponseChars, MaxTokens: g.MaxResponseTokens, CountTokens: tokens.CountText,
	})
}

func (s *Snapshot) compileGuardrails(cfg *config.Config) error {
	var err error
	if s.guardrail, err = compileGuardrail(cfg.Guardrails); err != nil {
		return fmt.Errorf("guardrails: %w", err)
	}
	s.consumerGuardrails = map[string]*guardrail.Policy{}
	for _, c := range cfg.Consumers {
		if c.Guardrails == nil {
			continue
		}
		g := *c.Guardrails
		if g.OutputAction == "" {
			g.OutputAction = cfg.Guardrails.OutputAction
		}
		if s.consumerGuardrails[c.ID], err = compileGuardrail(g); err != nil {
			return fmt.Errorf("consumer %s guardrails: %w", c.ID, err)
		}
	}
	return nil
}
