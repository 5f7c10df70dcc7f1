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
	opts    Options
	streams streams
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
func (s *Server) Drain() { s.streams.drain() }

// Wait blocks until every stream in flight has finished its bookkeeping. It
// drains the server first, if Drain was not called.
func (s *Server) Wait(ctx context.Context) error { return s.streams.wait(ctx) }

// Process serves one HTTP request's ext_proc stream.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	growStack(0)
	r, err := s.open()
	if err != nil {
		return err
	}
	defer r.close(stream.Context())
	return r.serve(stream)
}

// stackReserve is what growStack asks for on top of the frames below it: the
// stack grows to the next power of two, 4 KiB, which measured enough for a
// request's paths (gRPC's receive path, the quota and response filter paths);
// a deeper path would grow it once more, as before.
const stackReserve = 2048

// growStack makes the stream's goroutine grow its stack once, here, where a
// few frames are on it. Goroutines start small (2 KiB, or with Go's adaptive
// start the average stack size the GC last saw, which did not spare the
// growth: it showed in every profile), and the runtime doubles a stack
// whenever a call would overflow it; growing means copying the stack and
// adjusting every frame on it, which costs the more the deeper the call. A
// request would otherwise grow it at its first Recv, a dozen frames into gRPC,
// or deeper still (profiles: stack growth 5–9% of the sidecar's CPU before, 2%
// after). Same idea as CockroachDB's growstack.
//
//go:noinline
func growStack(i int) byte {
	var pad [stackReserve]byte
	pad[i%stackReserve] = byte(i)
	return pad[(i+1)%stackReserve]
}

// open starts a request, unless the sidecar is draining.
func (s *Server) open() (*request, error) {
	if !s.streams.enter() {
		return nil, status.Error(codes.Unavailable, "sidecar is shutting down")
	}
	s.opts.Metrics.IncInflight()
	return newRequest(s, s.opts.Snapshot()), nil
}

// close does the request's bookkeeping once its stream ended. The stream
// context may be cancelled (client gone); accounting must still happen, on a
// fresh bounded context.
func (r *request) close(streamCtx context.Context) {
	defer r.srv.streams.leave()
	defer r.srv.opts.Metrics.DecInflight()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(streamCtx), r.srv.opts.FinishTimeout)
	defer cancel()
	r.finish(ctx)
}

// serve answers the stream's messages until it ends.
func (r *request) serve(stream extprocv3.ExternalProcessor_ProcessServer) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if err != nil {
			return r.streamEnded(err)
		}
		resp := r.handle(ctx, req)
		if err := stream.Send(resp); err != nil {
			r.recvError(err)
			return err
		}
	}
}

// streamEnded is what Process returns when Recv fails: nil when Envoy closed
// the stream or the client went away.
func (r *request) streamEnded(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	r.recvError(err)
	if status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
