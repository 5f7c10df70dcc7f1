// Package loadgen plays Envoy's side of the ext_proc protocol against any
// ext_proc server, many requests at once, to measure what the server adds per
// request: per-phase latency and, for a local server, CPU time per request and
// per streamed chunk. It is a measuring tool; nothing in the product imports it.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Run plays the configured load and reports what it measured. When ctx is
// cancelled the run stops early and Run returns the partial report with the
// context's error.
func Run(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Report{}, err
	}
	tmpl, err := newTemplate(opts)
	if err != nil {
		return Report{}, err
	}
	ids, err := newIDSource(opts.Rand)
	if err != nil {
		return Report{}, err
	}
	conns, err := dial(ctx, opts)
	if err != nil {
		return Report{}, err
	}
	defer closeAll(conns)
	r := &run{opts: opts, tmpl: tmpl, ids: ids}
	for _, c := range conns {
		r.clients = append(r.clients, extprocv3.NewExternalProcessorClient(c))
	}

	before, err := sampleCPU(opts.ServerPID)
	if err != nil {
		return Report{}, err
	}
	start := opts.Now()
	rec, missed := r.execute(ctx)
	wall := opts.Now().Sub(start)
	after, err := sampleCPU(opts.ServerPID)
	if err != nil {
		return Report{}, err
	}
	rep := buildReport(opts, rec, missed, wall, before, after)
	return rep, ctx.Err()
}

// run is one load run's shared, read-only state.
type run struct {
	opts    Options
	tmpl    *template
	ids     idSource
	clients []extprocv3.ExternalProcessorClient
}

// execute starts the workers and waits for them; the duration bound only stops
// new requests, those in flight finish within RequestTimeout.
func (r *run) execute(ctx context.Context) (*recorder, int64) {
	schedCtx, cancel := context.WithTimeout(ctx, r.opts.Duration)
	defer cancel()
	var missed atomic.Int64
	next := ClosedLoop(schedCtx, r.opts.Requests)
	if r.opts.Rate > 0 {
		next = OpenLoop(schedCtx, r.opts.Rate, r.opts.Requests, r.opts.Duration, r.opts.Now, &missed)
	}
	recs := make([]*recorder, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = newRecorder()
		// Streams stay on one connection per worker, as an Envoy worker thread
		// keeps its own connection to the cluster.
		client := r.clients[i%len(r.clients)]
		wg.Go(func() { r.work(ctx, client, recs[i], next) })
	}
	wg.Wait()
	total := newRecorder()
	for _, rec := range recs {
		total.merge(rec)
	}
	return total, missed.Load()
}

func (r *run) work(ctx context.Context, client extprocv3.ExternalProcessorClient, rec *recorder, next func() (uint64, bool)) {
	x := &exchange{t: r.tmpl, rec: rec, now: r.opts.Now, slow: r.opts.MessageTimeout,
		pending: make([]time.Time, r.opts.Pipeline)}
	for {
		n, ok := next()
		if !ok || ctx.Err() != nil {
			return
		}
		r.one(ctx, client, x, n)
	}
}

// one plays request n on a fresh stream, as Envoy opens one per HTTP request.
func (r *run) one(ctx context.Context, client extprocv3.ExternalProcessorClient, x *exchange, n uint64) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.RequestTimeout)
	defer cancel()
	start := r.opts.Now()
	s, err := client.Process(ctx)
	if err != nil {
		x.rec.add(outcome{err: recvErrKind(err)})
		return
	}
	x.s = s
	o := x.play(r.ids.id(n))
	if o.err != "" && ctx.Err() != nil {
		// Our own deadline or cancellation ended the stream; gRPC may surface
		// it as an early end (io.EOF) rather than as a status.
		o.err = "grpc_" + status.FromContextError(ctx.Err()).Code().String()
	}
	if o.err == "" {
		x.rec.request.record(r.opts.Now().Sub(start))
		if kind := closeStream(s); kind != "" {
			x.rec.errors["close_"+kind]++
		}
	}
	x.rec.add(o)
}

// closeStream half-closes the stream, as Envoy does once it expects nothing
// more, and waits for the server to end it, so the server's per-stream work is
// inside the measurement and streams do not pile up. Answers still queued
// after an immediate response are discarded.
func closeStream(s extprocv3.ExternalProcessor_ProcessClient) string {
	if err := s.CloseSend(); err != nil {
		return recvErrKind(err)
	}
	for {
		if _, err := s.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return ""
			}
			return recvErrKind(err)
		}
	}
}

// dial opens the connection pool and waits until every connection is ready,
// so connection setup is not measured as request latency.
func dial(ctx context.Context, o Options) ([]*grpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	var conns []*grpc.ClientConn
	for range o.Connections {
		c, err := grpc.NewClient(o.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("loadgen: connect %s: %w", o.Addr, err)
		}
		conns = append(conns, c)
		if err := waitReady(ctx, c); err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("loadgen: connect %s: %w", o.Addr, err)
		}
	}
	return conns, nil
}

func waitReady(ctx context.Context, c *grpc.ClientConn) error {
	c.Connect()
	for s := c.GetState(); s != connectivity.Ready; s = c.GetState() {
		if !c.WaitForStateChange(ctx, s) {
			return fmt.Errorf("not ready (state %s): %w", s, ctx.Err())
		}
	}
	return nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
