package quota

import (
	"errors"
	"fmt"
	"strings"
)

// Limits are one scope's limits; 0 means unlimited.
type Limits struct {
	RequestsPerMinute int64
	TokensPerMinute   int64
	TokensPerDay      int64
	TokensPerMonth    int64
	MaxConcurrent     int64
}

// Subject identifies who is charged. Consumer is a config id, never a raw key.
// Model is set only when the consumer has per-model limits for the requested
// model; then ModelLimits apply in addition to Limits (tokens count toward
// both).
type Subject struct {
	Consumer    string
	Model       string
	Limits      Limits
	ModelLimits Limits
}

// ErrInvalidSubject reports a subject or amount the limiter cannot charge.
var ErrInvalidSubject = errors.New("quota: invalid subject")

func (s Subject) validate() error {
	if s.Consumer == "" {
		return fmt.Errorf("%w: empty consumer", ErrInvalidSubject)
	}
	if err := s.Limits.validate(); err != nil {
		return fmt.Errorf("%w: consumer %q: %w", ErrInvalidSubject, s.Consumer, err)
	}
	if err := s.ModelLimits.validate(); err != nil {
		return fmt.Errorf("%w: consumer %q model %q: %w", ErrInvalidSubject, s.Consumer, s.Model, err)
	}
	return nil
}

func (l Limits) validate() error {
	var bad []string
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"requests_per_minute", l.RequestsPerMinute}, {"tokens_per_minute", l.TokensPerMinute},
		{"tokens_per_day", l.TokensPerDay}, {"tokens_per_month", l.TokensPerMonth},
		{"max_concurrent", l.MaxConcurrent},
	} {
		if f.v < 0 {
			bad = append(bad, f.name)
		}
	}
	if bad != nil {
		return fmt.Errorf("negative %s", strings.Join(bad, ", "))
	}
	return nil
}
