package mockllm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Config holds the behaviour knobs, changeable while the server runs (SetConfig,
// or POST /mock/config with the JSON form below). Zero values mean the default
// noted on each field.
type Config struct {
	// Words is the reply length in words, one word being one token in the
	// mock's accounting (default 24). max_tokens / max_completion_tokens cap it.
	Words int `json:"words"`
	// ReplyText, when set, is the exact reply (split into tokens at word
	// starts, whitespace kept), for tests that need specific content.
	ReplyText string `json:"reply_text"`
	// TimeToFirstToken delays the response (or the first SSE event).
	TimeToFirstToken time.Duration `json:"-"`
	// TokenDelay is paid per token, before each SSE event or summed before a
	// JSON response.
	TokenDelay time.Duration `json:"-"`
	// TokensPerChunk is the number of tokens per content SSE event (default 1).
	TokensPerChunk int `json:"tokens_per_chunk"`
	// ErrorStatus, with ErrorRate, makes requests fail with an OpenAI-shaped
	// error of that status (e.g. 429, 500, 503) instead of a completion.
	ErrorStatus int `json:"error_status"`
	// ErrorRate is the probability (0..1) that a chat completion request fails
	// with ErrorStatus.
	ErrorRate float64 `json:"error_rate"`
	// OmitUsage leaves usage out of every response, as some providers do.
	OmitUsage bool `json:"omit_usage"`
}

// DefaultWords is the reply length when Config.Words is 0.
const DefaultWords = 24

// Validate reports every invalid knob at once.
func (c Config) Validate() error {
	var errs []error
	if c.Words < 0 {
		errs = append(errs, fmt.Errorf("words %d: must be >= 0", c.Words))
	}
	if c.TokensPerChunk < 0 {
		errs = append(errs, fmt.Errorf("tokens_per_chunk %d: must be >= 0", c.TokensPerChunk))
	}
	if c.TimeToFirstToken < 0 || c.TokenDelay < 0 {
		errs = append(errs, errors.New("delays must be >= 0"))
	}
	if c.ErrorRate < 0 || c.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate %v: must be within 0..1", c.ErrorRate))
	}
	if c.ErrorStatus != 0 && (c.ErrorStatus < 400 || c.ErrorStatus > 599) {
		errs = append(errs, fmt.Errorf("error_status %d: must be a 4xx or 5xx status", c.ErrorStatus))
	}
	return errors.Join(errs...)
}

func (c Config) words() int {
	if c.Words == 0 {
		return DefaultWords
	}
	return c.Words
}

func (c Config) tokensPerChunk() int {
	return max(c.TokensPerChunk, 1)
}

// Options configure a Server. Only Config can change later.
type Options struct {
	Config Config
	// Models are listed by GET /v1/models (default: mock-small and
	// meta-llama/Llama-3.1-8B-Instruct, the deployments of
	// config/gateway.local.yaml); chat completions accept any model name and
	// echo it back.
	Models []string
	// MaxRecorded bounds the request log kept for Requests (default 1000).
	MaxRecorded int
	// Float64 draws the error injection (default: a generator seeded with 1,
	// so a run is reproducible).
	Float64 func() float64
	// Now stamps the "created" fields (default time.Now).
	Now func() time.Time
	// Sleep waits for the configured delays (default: a timer that gives up
	// when ctx is done). Tests inject one that records instead of waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// defaultModels are the names GET /v1/models lists when Options.Models is empty:
// the deployments of config/gateway.local.yaml.
var defaultModels = []string{"mock-small", "meta-llama/Llama-3.1-8B-Instruct"}

func (o Options) withDefaults() Options {
	if len(o.Models) == 0 {
		o.Models = defaultModels
	}
	if o.MaxRecorded <= 0 {
		o.MaxRecorded = 1000
	}
	if o.Float64 == nil {
		o.Float64 = rand.New(rand.NewPCG(1, 1)).Float64
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// configJSON is the wire form of Config: delays in milliseconds.
type configJSON struct {
	Config
	TimeToFirstTokenMS float64 `json:"ttft_ms"`
	TokenDelayMS       float64 `json:"token_delay_ms"`
}

func toJSON(c Config) configJSON {
	return configJSON{
		Config:             c,
		TimeToFirstTokenMS: float64(c.TimeToFirstToken) / float64(time.Millisecond),
		TokenDelayMS:       float64(c.TokenDelay) / float64(time.Millisecond),
	}
}

func (j configJSON) config() Config {
	c := j.Config
	c.TimeToFirstToken = time.Duration(j.TimeToFirstTokenMS * float64(time.Millisecond))
	c.TokenDelay = time.Duration(j.TokenDelayMS * float64(time.Millisecond))
	return c
}

// handleConfig serves GET /mock/config (current knobs) and POST /mock/config
// (a partial update: fields absent from the body keep their value).
func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		body, err := readBody(r)
		if err == nil {
			err = s.updateConfig(body)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, invalidRequest(err.Error(), ""))
			return
		}
	default:
		writeError(w, http.StatusMethodNotAllowed, methodNotAllowed(r))
		return
	}
	writeJSON(w, http.StatusOK, toJSON(s.Config()))
}

// updateConfig applies a JSON partial update to the knobs in force.
func (s *Server) updateConfig(body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	wire := toJSON(*s.config.Load())
	if err := json.Unmarshal(body, &wire); err != nil {
		return fmt.Errorf("mockllm config: %w", err)
	}
	return s.setConfigLocked(wire.config())
}
