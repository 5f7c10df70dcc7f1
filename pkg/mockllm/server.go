// Package mockllm is an OpenAI-compatible stand-in for an LLM provider (vLLM,
// OpenAI) used by tests, benchmarks, `make run` and the compose stack. Replies
// are deterministic: the same request always gets the same answer. Latency,
// failures, reply content and usage reporting are knobs (Config) that can be
// changed while it runs, and every request it receives is recorded for tests to
// inspect.
//
// Endpoints: POST /v1/chat/completions (JSON, or SSE with "stream": true),
// GET /v1/models, GET /healthz, GET|POST /mock/config, POST /mock/reset.
// Anything else gets an OpenAI-shaped 404.
package mockllm

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Server is the mock provider; it is an http.Handler.
type Server struct {
	opts   Options
	config atomic.Pointer[Config]
	// mu serialises config updates and draws from opts.Float64, which need
	// not be safe for concurrent use.
	mu     sync.Mutex
	rec    recorder
	nextID atomic.Uint64
}

var _ http.Handler = (*Server)(nil)

// New returns a mock provider. An invalid opts.Config is replaced by the
// defaults; use SetConfig to get the validation error.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{opts: opts, rec: recorder{max: opts.MaxRecorded}}
	cfg := opts.Config
	if cfg.Validate() != nil {
		cfg = Config{}
	}
	s.config.Store(&cfg)
	return s
}

// Config returns the knobs in force.
func (s *Server) Config() Config {
	return *s.config.Load()
}

// SetConfig replaces the knobs for the requests that start from now on.
func (s *Server) SetConfig(c Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setConfigLocked(c)
}

func (s *Server) setConfigLocked(c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("mockllm config: %w", err)
	}
	s.config.Store(&c)
	return nil
}

// Requests returns the recorded requests, oldest first (at most
// Options.MaxRecorded of them), and the count of all requests recorded since
// the last Reset. /healthz and /mock/* are not recorded.
func (s *Server) Requests() ([]Request, int) {
	return s.rec.snapshot()
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.rec.reset()
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/healthz":
		s.handleHealth(w, r)
		return
	case path == "/mock/config":
		s.handleConfig(w, r)
		return
	case path == "/mock/reset":
		s.handleReset(w, r)
		return
	}
	body, err := s.rec.record(r)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, invalidRequest(err.Error(), ""))
		return
	}
	switch path {
	case "/v1/chat/completions":
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, methodNotAllowed(r))
			return
		}
		s.handleChat(w, r, body)
	case "/v1/models":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, methodNotAllowed(r))
			return
		}
		s.handleModels(w)
	default:
		writeError(w, http.StatusNotFound, apiError{
			Message: fmt.Sprintf("Invalid URL (%s %s)", r.Method, path),
			Type:    "invalid_request_error",
		})
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, methodNotAllowed(r))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, methodNotAllowed(r))
		return
	}
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) handleModels(w http.ResponseWriter) {
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: make([]model, 0, len(s.opts.Models))}
	for _, id := range s.opts.Models {
		owner, _, found := strings.Cut(id, "/")
		if !found {
			owner = "mock"
		}
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: 1700000000, OwnedBy: owner})
	}
	writeJSON(w, http.StatusOK, list)
}

// injectError draws whether this request fails, under the configured rate.
func (s *Server) injectError(c Config) bool {
	if c.ErrorStatus == 0 || c.ErrorRate <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Float64() < c.ErrorRate
}
