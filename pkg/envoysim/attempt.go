package envoysim

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

type attemptKind int

const (
	attemptResponse attemptKind = iota
	attemptConnectFailure
	attemptReset
	attemptPerTryTimeout
	attemptGlobalTimeout
	attemptCancelled
)

// attemptResult is one upstream try.
type attemptResult struct {
	kind    attemptKind
	resp    *http.Response
	host    *upstreamHost
	elapsed time.Duration
	cancel  context.CancelFunc
}

func (a *attemptResult) outcome() outcome {
	switch a.kind {
	case attemptResponse:
		if a.resp.StatusCode >= 500 {
			return outcome5xx
		}
		return outcomeSuccess
	case attemptCancelled:
		return outcomeSuccess // the upstream is not to blame
	}
	return outcomeLocalError
}

// discard releases a response that will not be forwarded.
func (a *attemptResult) discard() {
	if a.resp != nil {
		_ = a.resp.Body.Close()
	}
	a.cancel()
}

// attempt sends the request to one host, bounded by the per-try timeout.
func (ex *exchange) attempt(ctx context.Context, cl *upstreamCluster, host *upstreamHost, pl *payload, perTry time.Duration) *attemptResult {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if perTry > 0 {
		actx, cancel = context.WithTimeout(ctx, perTry)
	}
	res := &attemptResult{host: host, cancel: cancel}
	name := cl.cfg.Name
	ex.p.stats.inc(clusterStat(name, "upstream_rq_total"))
	req, err := ex.upstreamRequest(actx, cl, host, pl)
	if err != nil {
		res.kind = attemptReset
		cancel()
		return res
	}
	start := ex.p.clock.Now()
	resp, err := cl.transport.RoundTrip(req)
	res.elapsed = ex.since(start)
	if err != nil {
		res.kind = classifyAttemptError(err, ctx, actx)
		cancel()
		switch res.kind {
		case attemptConnectFailure:
			ex.p.stats.inc(clusterStat(name, "upstream_cx_connect_fail"))
		case attemptPerTryTimeout:
			ex.p.stats.inc(clusterStat(name, "upstream_rq_per_try_timeout"))
		}
		return res
	}
	res.resp = resp
	ex.p.stats.inc(clusterStat(name, "upstream_rq_"+strconv.Itoa(resp.StatusCode)))
	ex.p.stats.inc(clusterStat(name, "upstream_rq_"+statusClass(resp.StatusCode)))
	return res
}

func classifyAttemptError(err error, global, try context.Context) attemptKind {
	switch {
	case errors.Is(global.Err(), context.DeadlineExceeded):
		return attemptGlobalTimeout
	case global.Err() != nil:
		return attemptCancelled
	case errors.Is(try.Err(), context.DeadlineExceeded):
		return attemptPerTryTimeout
	}
	var op *net.OpError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	if errors.As(err, &op) && op.Op == "dial" || errors.As(err, &certErr) || errors.As(err, &recErr) {
		return attemptConnectFailure
	}
	return attemptReset
}

// upstreamRequest builds the HTTP/1.1 request for host from the request
// headers as the filters left them.
func (ex *exchange) upstreamRequest(ctx context.Context, cl *upstreamCluster, host *upstreamHost, pl *payload) (*http.Request, error) {
	u, err := url.ParseRequestURI(ex.req.value(":path"))
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = cl.scheme, host.addr
	if ex.route.AutoHostRewrite && host.hostname != "" {
		ex.req.set(":authority", host.hostname)
	}
	body, length := pl.reader()
	req, err := http.NewRequestWithContext(ctx, ex.req.value(":method"), u.String(), body)
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.Host = ex.req.value(":authority")
	req.ContentLength = length
	if length == 0 {
		req.Body = http.NoBody
	}
	ex.req.toHTTPHeader(req.Header)
	req.Header.Del("Content-Length")
	req.Header.Del("Host")
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // keep net/http from adding its own
	}
	return req, nil
}

// payload is the request body as the router holds it: replayable when it
// fit in the buffer limit (Envoy buffers for retries up to that limit).
type payload struct {
	data   []byte
	stream io.Reader
	// length is announced upstream: the body size, or -1 (chunked).
	length int64
	used   bool
}

func newPayload(b *requestBody, wantReplay bool, limit int64) *payload {
	if b.stream == nil {
		return &payload{data: b.data, length: int64(len(b.data))}
	}
	if wantReplay {
		head, err := io.ReadAll(io.LimitReader(b.stream, limit+1))
		if err == nil && int64(len(head)) <= limit {
			return &payload{data: head, length: int64(len(head))}
		}
		return &payload{stream: io.MultiReader(bytes.NewReader(head), b.stream), length: -1}
	}
	return &payload{stream: b.stream, length: -1}
}

func (p *payload) replayable() bool { return p.stream == nil }

// reader returns the body for one attempt.
func (p *payload) reader() (io.Reader, int64) {
	if p.stream == nil {
		return bytes.NewReader(p.data), p.length
	}
	if p.used {
		return bytes.NewReader(nil), 0
	}
	p.used = true
	return p.stream, p.length
}
