// Package extproc is the Envoy external-processing gRPC service: one bidirectional
// stream per HTTP request, driven phase by phase (request headers, request body,
// response headers, response body). It owns the protocol; the decisions come from
// the policy packages it calls.
package extproc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llm-gateway/gateway/pkg/policy"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// Options wires the server to the policy it enforces.
type Options struct {
	// Snapshot returns the policy in force; each stream reads it once at its start.
	Snapshot func() *policy.Snapshot
	Logger   *slog.Logger
	// Now is the clock; tests inject their own.
	Now func() time.Time
	// Quota admits requests and reserves tokens (required).
	Quota Quota
	// Metrics records Prometheus metrics (required; telemetry.NewMetrics(nil) in tests).
	Metrics *telemetry.Metrics
	// Tracer starts one span per request (default: no-op).
	Tracer trace.Tracer
	// FinishTimeout bounds the bookkeeping done after a stream ends (accounting on
	// a fresh context, since the stream's own context may be cancelled).
	FinishTimeout time.Duration
}

// Server implements envoy.service.ext_proc.v3.ExternalProcessor.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	opts     Options
	draining atomic.Bool
	inflight sync.WaitGroup
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// New returns a server; Snapshot is required.
func New(opts Options) (*Server, error) {
	if opts.Snapshot == nil {
		return nil, errors.New("extproc: Options.Snapshot is required")
	}
	if opts.Quota == nil || opts.Metrics == nil {
		return nil, errors.New("extproc: Options.Quota and Options.Metrics are required")
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FinishTimeout == 0 {
		opts.FinishTimeout = 5 * time.Second
	}
	return &Server{opts: opts}, nil
}

// Drain makes the server refuse new streams; streams in flight continue. Wait
// blocks until they end or ctx expires.
func (s *Server) Drain() { s.draining.Store(true) }

// Wait blocks until every stream in flight has finished its bookkeeping.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Process serves one HTTP request's ext_proc stream.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	if s.draining.Load() {
		return status.Error(codes.Unavailable, "sidecar is shutting down")
	}
	s.inflight.Add(1)
	defer s.inflight.Done()

	s.opts.Metrics.IncInflight()
	defer s.opts.Metrics.DecInflight()
	r := newRequest(s, s.opts.Snapshot())
	defer func() {
		// The stream context may be cancelled (client gone); accounting must still
		// happen, on a fresh bounded context.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(stream.Context()), s.opts.FinishTimeout)
		defer cancel()
		r.finish(ctx)
	}()
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			r.recvError(err)
			if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		resp := r.handle(ctx, req)
		if err := stream.Send(resp); err != nil {
			r.recvError(err)
			return err
		}
	}
}
