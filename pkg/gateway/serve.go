package gateway

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/extproc"
	"github.com/llm-gateway/gateway/pkg/policy"
	"github.com/llm-gateway/gateway/pkg/protocodec"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/telemetry"
	"github.com/llm-gateway/gateway/pkg/tokens"
)

// Options start a Gateway. Addresses override the config's, for tests.
type Options struct {
	ConfigPath string
	Env        config.Env
	// GRPCListen and AdminListen override the config when set ("127.0.0.1:0" in tests).
	GRPCListen  string
	AdminListen string
	// LogOutput receives the JSON logs (stderr when nil).
	LogOutput io.Writer
	// TracerProvider replaces the one built from OTEL_* variables (tests).
	TracerProvider trace.TracerProvider
}

// Gateway is a running sidecar.
type Gateway struct {
	opts     Options
	log      *slog.Logger
	reloadMu sync.Mutex
	reloads  struct{ ok, failed atomic.Int64 }
	cancel   context.CancelFunc
	snapshot atomic.Pointer[policy.Snapshot]
	// logWriter batches log lines (nil when telemetry.log_flush_interval is 0).
	logWriter *telemetry.LogWriter
	ready     atomic.Bool
	ext       *extproc.Server
	grpc      *grpc.Server
	health    *health.Server
	admin     *http.Server
	grpcLn    net.Listener
	adminLn   net.Listener
	done      chan error
	shutdown  time.Duration

	metrics        *telemetry.Metrics
	limiter        *quota.Limiter
	closeStore     func() error
	tracerShutdown func(context.Context) error
}

func serveCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/gateway.yaml", "path to the gateway config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, err := Start(ctx, Options{ConfigPath: *path, Env: config.OSEnv(), LogOutput: stderr})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-g.done:
		if err != nil {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), g.shutdown)
	defer cancel()
	return g.Shutdown(sctx)
}

// Start loads the config and starts serving gRPC and admin HTTP.
func Start(ctx context.Context, opts Options) (_ *Gateway, err error) {
	cfg, err := config.Load(opts.ConfigPath, opts.Env)
	if err != nil {
		return nil, err
	}
	out := opts.LogOutput
	if out == nil {
		out = os.Stderr
	}
	g := &Gateway{opts: opts, done: make(chan error, 2), shutdown: cfg.Server.ShutdownTimeout.D()}
	if iv := cfg.Telemetry.FlushInterval(); iv > 0 {
		g.logWriter = telemetry.NewLogWriter(out, iv, 64<<10)
		out = g.logWriter
		defer func() {
			if err != nil {
				g.logWriter.Close()
			}
		}()
	}
	log := telemetry.NewLogger(out, cfg.Telemetry.LogLevel)
	g.log = log
	if g.metrics, err = telemetry.NewMetrics(prometheus.NewRegistry()); err != nil {
		return nil, err
	}
	g.metrics.SetBuildInfo("")
	snap, err := policy.Compile(cfg, policy.CompileOptions{Version: 1, RouterObserver: routerObserver{g.metrics}})
	if err != nil {
		return nil, err
	}
	g.snapshot.Store(snap)
	g.metrics.SetKnownLabels(knownLabels(snap))
	publishBreakers(snap, g.metrics)
	// Build the token table now so the first request does not pay for it.
	tokens.EstimateText("warm up")
	if g.limiter, g.closeStore, err = newLimiter(cfg, log, g.metrics); err != nil {
		return nil, err
	}
	tp := opts.TracerProvider
	if tp == nil {
		var tracerShutdown func(context.Context) error
		tp, tracerShutdown, err = telemetry.SetupTracing(ctx, telemetry.TracingOptions{})
		if err != nil {
			log.Warn("tracing disabled", "error", err.Error())
		}
		g.tracerShutdown = tracerShutdown
	}
	g.ext, err = extproc.New(extproc.Options{
		Snapshot: g.snapshot.Load, Logger: log, Quota: g.limiter, Metrics: g.metrics,
		Tracer: tp.Tracer("github.com/llm-gateway/gateway"),
	})
	if err != nil {
		return nil, err
	}
	if err := g.listen(cfg, opts); err != nil {
		return nil, err
	}
	if err := g.startGRPC(cfg); err != nil {
		g.adminLn.Close()
		g.grpcLn.Close()
		return nil, err
	}
	g.startAdmin()
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	if err := g.watchReloads(wctx); err != nil {
		log.Warn("config file watch unavailable; reload with SIGHUP", "error", err.Error())
	}
	go g.budgetLoop(wctx, 15*time.Second)
	g.ready.Store(true)
	log.Info("gateway started", "grpc", g.grpcLn.Addr().String(), "admin", g.adminLn.Addr().String(),
		"providers", len(cfg.Providers), "models", len(cfg.Models), "consumers", len(cfg.Consumers),
		"generated_marshal", protocodec.Generated())
	return g, nil
}

func (g *Gateway) listen(cfg *config.Config, opts Options) error {
	grpcAddr := firstNonEmpty(opts.GRPCListen, cfg.Server.GRPCListen)
	adminAddr := firstNonEmpty(opts.AdminListen, cfg.Server.AdminListen)
	var err error
	if path, ok := strings.CutPrefix(grpcAddr, "unix://"); ok {
		_ = os.Remove(path) // a stale socket from a crashed run would block the listen
		g.grpcLn, err = net.Listen("unix", path)
	} else {
		g.grpcLn, err = net.Listen("tcp", grpcAddr)
	}
	if err != nil {
		return fmt.Errorf("listen grpc %s: %w", grpcAddr, err)
	}
	if g.adminLn, err = net.Listen("tcp", adminAddr); err != nil {
		g.grpcLn.Close()
		return fmt.Errorf("listen admin %s: %w", adminAddr, err)
	}
	return nil
}

func (g *Gateway) startGRPC(cfg *config.Config) error {
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(cfg.Server.MaxConcurrentStreams),
		grpc.MaxRecvMsgSize(cfg.Server.MaxMessageBytes),
		grpc.MaxSendMsgSize(cfg.Server.MaxMessageBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Envoy pings HTTP/2 connections; allow it rather than answering GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ForceServerCodecV2(protocodec.New()),
	}
	if cfg.Server.TLSCertFile != "" {
		creds, err := credentials.NewServerTLSFromFile(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("load grpc tls: %w", err)
		}
		opts = append(opts, grpc.Creds(creds))
	}
	// No stats handlers or interceptors that read sent messages later: the
	// ext_proc server reuses a streamed chunk's answer once Send returns
	// (pkg/extproc chunkAnswer).
	g.grpc = grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(g.grpc, g.ext)
	g.health = health.NewServer()
	healthpb.RegisterHealthServer(g.grpc, g.health)
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	g.health.SetServingStatus(extprocv3.ExternalProcessor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	go func() { g.done <- g.grpc.Serve(g.grpcLn) }()
	return nil
}

func (g *Gateway) startAdmin() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("GET /admin/usage", g.handleUsage)
	mux.Handle("/debug/pprof/", g.pprofHandler())
	g.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := g.admin.Serve(g.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.done <- err
		}
	}()
}

// GRPCAddr is the ext_proc listener's address.
func (g *Gateway) GRPCAddr() string { return g.grpcLn.Addr().String() }

// AdminAddr is the admin HTTP listener's address.
func (g *Gateway) AdminAddr() string { return g.adminLn.Addr().String() }

// Shutdown turns readiness off, refuses new streams, lets streams in flight drain
// until ctx expires, then stops everything.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.ready.Store(false)
	g.cancel()
	g.health.Shutdown()
	g.ext.Drain()
	g.log.Info("gateway draining")
	stopped := make(chan struct{})
	go func() { g.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.log.Warn("drain deadline reached; closing remaining streams")
		g.grpc.Stop()
	}
	_ = g.ext.Wait(ctx)
	if err := g.limiter.Close(ctx); err != nil {
		g.log.Error("pending usage could not be flushed", "error", err.Error())
	}
	_ = g.closeStore()
	if g.tracerShutdown != nil {
		_ = g.tracerShutdown(ctx)
	}
	err := g.admin.Shutdown(ctx)
	g.log.Info("gateway stopped")
	if g.logWriter != nil {
		_ = g.logWriter.Close()
	}
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
