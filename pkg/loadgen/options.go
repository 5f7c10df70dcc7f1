package loadgen

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"time"
)

// Options configure one load run. Zero values take the defaults documented on
// each field; Requests and Duration bound the run together (it stops at
// whichever comes first).
type Options struct {
	// Addr is the ext_proc server, host:port or unix:/path.
	Addr string
	// AllowRemote permits a target that is not a loopback address. Load runs
	// against someone else's machine by accident are worse than a refusal.
	AllowRemote bool

	// Requests is the most requests to start (default 1000, at most MaxRequests).
	Requests int
	// Duration is the longest the run schedules new requests (default 30s, at
	// most MaxDuration); requests in flight then finish.
	Duration time.Duration
	// Rate in requests per second starts requests on a schedule (open loop);
	// 0 runs Concurrency workers back to back (closed loop).
	Rate float64
	// Concurrency is the number of requests in flight at most (default 16).
	Concurrency int
	// Connections is the number of HTTP/2 connections streams are spread over,
	// as Envoy keeps one per worker thread (default 2).
	Connections int

	// Stream makes the client ask for SSE and the upstream answer with it.
	Stream bool
	// Chunks is the completion length in tokens: SSE chunk events when
	// streaming, the completion's tokens otherwise (default 100).
	Chunks int
	// PromptBytes is the size of the user prompt (default 1024).
	PromptBytes int
	// Pipeline bounds the streamed response chunks sent and not yet answered
	// (default 16).
	Pipeline int

	// Key, Model, Path and Authority shape the request (defaults: the local demo
	// key, gpt-4o-mini, /v1/chat/completions, localhost:10000).
	Key, Model, Path, Authority string
	// UpstreamModel is the model name in the provider's answers (default
	// Model + "-2024-07-18": OpenAI answers with the dated snapshot, so a
	// gateway that shows clients their own model name rewrites every chunk).
	UpstreamModel string

	// RequestTimeout bounds one request's whole stream (default 30s).
	RequestTimeout time.Duration
	// DialTimeout bounds connecting to the server before the run (default 5s).
	DialTimeout time.Duration
	// MessageTimeout is Envoy's message_timeout: answers slower than this are
	// counted (Envoy would answer 504), not aborted (default 200ms).
	MessageTimeout time.Duration

	// ServerPID, when set, is a local process whose CPU time is measured.
	ServerPID int

	// Now is the clock (default time.Now); Rand seeds request ids (default
	// crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// Bounds a run may not exceed.
const (
	MaxRequests    = 10_000_000
	MaxDuration    = time.Hour
	MaxConcurrency = 10_000
	MaxRate        = 1e6
)

// Defaults used for zero Options fields.
const (
	DefaultKey   = "sk-gw-demo-local-only"
	DefaultModel = "gpt-4o-mini"
	DefaultPath  = "/v1/chat/completions"
)

// ErrRemoteTarget is returned for a non-loopback target without AllowRemote.
var ErrRemoteTarget = errors.New("loadgen: target is not a loopback address (set AllowRemote to load a remote server)")

func (o Options) withDefaults() Options {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Requests, 1000)
	def(&o.Concurrency, 16)
	def(&o.Connections, 2)
	def(&o.Chunks, 100)
	def(&o.PromptBytes, 1024)
	def(&o.Pipeline, 16)
	defDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	defDur(&o.Duration, 30*time.Second)
	defDur(&o.RequestTimeout, 30*time.Second)
	defDur(&o.DialTimeout, 5*time.Second)
	defDur(&o.MessageTimeout, 200*time.Millisecond)
	defStr := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	defStr(&o.Key, DefaultKey)
	defStr(&o.Model, DefaultModel)
	defStr(&o.UpstreamModel, o.Model+"-2024-07-18")
	defStr(&o.Path, DefaultPath)
	defStr(&o.Authority, "localhost:10000")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o
}

// validate reports every problem at once.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("loadgen: "+format, args...)) }
	if o.Addr == "" {
		bad("Addr is required")
	} else if !o.AllowRemote {
		if err := checkLoopback(o.Addr); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Requests < 0 || o.Requests > MaxRequests {
		bad("Requests %d out of range [1, %d]", o.Requests, MaxRequests)
	}
	if o.Duration < 0 || o.Duration > MaxDuration {
		bad("Duration %s out of range (0, %s]", o.Duration, MaxDuration)
	}
	if o.Rate < 0 || o.Rate > MaxRate || math.IsNaN(o.Rate) {
		bad("Rate %g out of range [0, %g]", o.Rate, MaxRate)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Concurrency", o.Concurrency}, {"Connections", o.Connections}, {"Chunks", o.Chunks}, {"Pipeline", o.Pipeline}} {
		if f.v < 1 {
			bad("%s must be at least 1, got %d", f.name, f.v)
		}
	}
	if o.Concurrency > MaxConcurrency {
		bad("Concurrency %d exceeds %d", o.Concurrency, MaxConcurrency)
	}
	if o.PromptBytes < 1 {
		bad("PromptBytes must be at least 1, got %d", o.PromptBytes)
	}
	if o.Connections > o.Concurrency {
		bad("Connections (%d) exceeds Concurrency (%d)", o.Connections, o.Concurrency)
	}
	if o.RequestTimeout < 0 || o.DialTimeout < 0 || o.MessageTimeout < 0 {
		bad("timeouts must not be negative")
	}
	if o.ServerPID < 0 {
		bad("ServerPID %d is negative", o.ServerPID)
	}
	return errors.Join(errs...)
}

// checkLoopback accepts unix sockets, localhost and loopback IP literals. Other
// host names are refused rather than resolved: a name that resolves to loopback
// today may not tomorrow.
func checkLoopback(addr string) error {
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrRemoteTarget, addr)
}
