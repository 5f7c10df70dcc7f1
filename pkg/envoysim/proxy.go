package envoysim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Options configure a Proxy.
type Options struct {
	// Config is the loaded envoy.yaml (required).
	Config *Config
	// ListenAddr overrides the listener address, e.g. "127.0.0.1:0" in tests.
	ListenAddr string
	// AdminAddr enables the admin endpoint (/ready, /stats,
	// /stats/prometheus) on this address; empty disables it.
	AdminAddr string
	// ClusterAddrs remaps cluster endpoints: name -> "host:port" or a
	// comma-separated list for several hosts. Remapped clusters speak plain
	// HTTP unless the value starts with "https://".
	ClusterAddrs map[string]string
	// MessageTimeout, when positive, replaces ext_proc's message_timeout so
	// tests need not wait out production values.
	MessageTimeout time.Duration
	// RetryBackOff, when set, replaces Envoy's jittered exponential back-off
	// (attempt counts from 1).
	RetryBackOff func(attempt int) time.Duration
	// Logger receives diagnostics (default: discard).
	Logger *slog.Logger
	// AccessLog receives one line per request in the envoy.yaml access log
	// format; when nil the lines go to Logger at Info level.
	AccessLog io.Writer
	// Clock and Rand default to the real clock and math/rand/v2.
	Clock Clock
	Rand  Rand
}

// Proxy is a running emulation of the Envoy described by a Config.
type Proxy struct {
	cfg            *Config
	opts           Options
	logger         *slog.Logger
	clock          Clock
	rand           Rand
	stats          *stats
	messageTimeout time.Duration
	clusters       map[string]*upstreamCluster
	procConn       *grpc.ClientConn
	procClient     extprocv3.ExternalProcessorClient
	ready          atomic.Bool

	logMu sync.Mutex

	mu       sync.Mutex
	servers  []*http.Server
	addr     string
	adminAt  string
	stopOnce sync.Once
	serveErr chan error
}

// New validates options and builds the proxy; Start begins serving.
func New(opts Options) (*Proxy, error) {
	if opts.Config == nil || opts.Config.Listener == nil {
		return nil, errors.New("envoysim: Options.Config is required")
	}
	p := &Proxy{cfg: opts.Config, opts: opts, logger: opts.Logger, clock: opts.Clock, stats: newStats(),
		clusters: map[string]*upstreamCluster{}, serveErr: make(chan error, 2)}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.clock == nil {
		p.clock = realClock{}
	}
	p.rand = globalRand{}
	if opts.Rand != nil {
		p.rand = &lockedRand{src: opts.Rand}
	}
	for name := range opts.ClusterAddrs {
		if _, ok := p.cfg.Clusters[name]; !ok {
			return nil, fmt.Errorf("envoysim: ClusterAddrs names unknown cluster %q", name)
		}
	}
	for name, c := range p.cfg.Clusters {
		uc, err := newUpstreamCluster(c, opts.ClusterAddrs[name], p.stats, p.rand)
		if err != nil {
			return nil, fmt.Errorf("envoysim: %w", err)
		}
		p.clusters[name] = uc
	}
	if ep := p.cfg.Listener.ExtProc; ep != nil {
		p.messageTimeout = ep.MessageTimeout
		if opts.MessageTimeout > 0 {
			p.messageTimeout = opts.MessageTimeout
		}
		if err := p.dialExtProc(ep); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// dialExtProc prepares the HTTP/2 connection to the processor cluster; it
// connects lazily, like Envoy's gRPC async client.
func (p *Proxy) dialExtProc(ep *ExtProc) error {
	c := p.cfg.Clusters[ep.ClusterName]
	host := p.clusters[ep.ClusterName].hosts[0].addr
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: c.ConnectTimeout}),
	}
	if c.KeepaliveInterval > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: c.KeepaliveInterval, Timeout: c.KeepaliveTimeout, PermitWithoutStream: true,
		}))
	}
	conn, err := grpc.NewClient("passthrough:///"+host, opts...)
	if err != nil {
		return fmt.Errorf("envoysim: ext_proc client: %w", err)
	}
	p.procConn = conn
	p.procClient = extprocv3.NewExternalProcessorClient(conn)
	return nil
}

// Start binds the listener (and admin endpoint) and serves in the
// background until ctx ends or Close is called.
func (p *Proxy) Start(ctx context.Context) error {
	addr := p.opts.ListenAddr
	if addr == "" {
		addr = p.cfg.Listener.Address
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("envoysim: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: time.Minute, ErrorLog: slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	p.mu.Lock()
	p.addr = ln.Addr().String()
	p.servers = append(p.servers, srv)
	p.mu.Unlock()
	if p.opts.AdminAddr != "" {
		aln, err := net.Listen("tcp", p.opts.AdminAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("envoysim: admin listen %s: %w", p.opts.AdminAddr, err)
		}
		asrv := &http.Server{Handler: p.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		p.mu.Lock()
		p.adminAt = aln.Addr().String()
		p.servers = append(p.servers, asrv)
		p.mu.Unlock()
		go p.serve(asrv, aln)
	}
	go p.serve(srv, ln)
	p.ready.Store(true)
	go func() {
		<-ctx.Done()
		_ = p.Close()
	}()
	p.logger.Info("envoysim: listening", "addr", p.Addr(), "admin", p.AdminAddr())
	return nil
}

func (p *Proxy) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.serveErr <- err
	}
}

// Addr is the bound listener address.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// AdminAddr is the bound admin address, empty when disabled.
func (p *Proxy) AdminAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.adminAt
}

// Close stops accepting, lets in-flight requests finish for up to five
// seconds, then releases upstream and ext_proc connections.
func (p *Proxy) Close() error {
	var errs []error
	p.stopOnce.Do(func() {
		p.ready.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.mu.Lock()
		servers := p.servers
		p.mu.Unlock()
		for _, s := range servers {
			if err := s.Shutdown(ctx); err != nil {
				errs = append(errs, err)
				_ = s.Close()
			}
		}
		for _, c := range p.clusters {
			c.transport.CloseIdleConnections()
		}
		if p.procConn != nil {
			errs = append(errs, p.procConn.Close())
		}
	})
	return errors.Join(errs...)
}

// Counter returns a counter by Envoy stat name, e.g.
// "cluster.mock.upstream_rq_retry" or
// "http.llm_gateway.ext_proc.rejected_header_mutations".
func (p *Proxy) Counter(name string) uint64 { return p.stats.counter(name) }

// Gauge returns a gauge by Envoy stat name, e.g.
// "cluster.mock.outlier_detection.ejections_active".
func (p *Proxy) Gauge(name string) int64 { return p.stats.gauge(name) }

// Counters returns a snapshot of every counter.
func (p *Proxy) Counters() map[string]uint64 {
	c, _ := p.stats.snapshot()
	return c
}

func (p *Proxy) httpStat(name string) string {
	return "http." + p.cfg.Listener.StatPrefix + "." + name
}

func (p *Proxy) extProcStat(name string) string {
	return p.httpStat("ext_proc." + name)
}
