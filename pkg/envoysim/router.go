package envoysim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// forward runs the filters after ext_proc: the fault filter, then the router.
func (ex *exchange) forward(body *requestBody) (*upstreamResponse, *localReply) {
	if lr := ex.faultFilter(); lr != nil {
		return nil, lr
	}
	if ex.route == nil {
		ex.p.stats.inc(ex.p.httpStat("no_route"))
		return nil, &localReply{status: http.StatusNotFound, flag: "NR", details: "route_not_found", viaFilters: true}
	}
	cl := ex.p.clusters[ex.clusterName]
	if cl == nil {
		ex.p.stats.inc(ex.p.httpStat("no_cluster"))
		return nil, &localReply{status: ex.route.ClusterNotFoundCode, flag: "NC", details: "cluster_not_found", viaFilters: true}
	}
	ex.log.upstreamCluster = cl.cfg.Name
	return ex.callUpstream(cl, body)
}

// callUpstream sends the request with the route's timeout and retry policy,
// as overridden by the x-envoy-* headers the router consumes.
func (ex *exchange) callUpstream(cl *upstreamCluster, body *requestBody) (*upstreamResponse, *localReply) {
	global, perTry := routeTimeouts(ex.route, ex.req)
	rs := newRetryState(ex.route.Retry, ex.req)
	for _, n := range routerControlHeaders {
		ex.req.del(n)
	}
	if global > 0 {
		ex.req.set("x-envoy-expected-rq-timeout-ms", strconv.FormatInt(global.Milliseconds(), 10))
	}
	name := cl.cfg.Name
	if !cl.acquireRequest() {
		ex.p.stats.inc(clusterStat(name, "upstream_rq_pending_overflow"))
		return nil, &localReply{status: http.StatusServiceUnavailable, flag: "UO", details: "overflow", viaFilters: true,
			body: "upstream connect error or disconnect/reset before headers. reset reason: overflow"}
	}
	ex.onRelease(cl.releaseRequest)
	ctx := ex.ctx
	if global > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ex.ctx, global)
		ex.onRelease(cancel)
	}
	pl := newPayload(body, rs != nil && rs.remaining > 0, ex.p.cfg.Listener.BufferLimit)
	if n := contentLength(ex.req); pl.stream != nil && n >= 0 {
		pl.length = n
	}
	tried := map[*upstreamHost]bool{}
	for attempt := 1; ; attempt++ {
		attempts := 0
		if rs != nil && rs.policy.PreviousHosts {
			attempts = rs.policy.HostSelectionMaxAttempts
		}
		host := cl.pick(ex.p.clock.Now(), tried, attempts)
		if host == nil {
			return nil, &localReply{status: http.StatusServiceUnavailable, body: "no healthy upstream", flag: "UH", details: "no_healthy_upstream", viaFilters: true}
		}
		tried[host] = true
		res := ex.attempt(ctx, cl, host, pl, perTry)
		cl.recordOutcome(host, res.outcome(), ex.p.clock.Now())
		if res.kind == attemptCancelled || res.kind == attemptGlobalTimeout {
			return nil, ex.abandoned(ctx, name)
		}
		if !rs.wouldRetry(res) {
			if attempt > 1 {
				ex.p.stats.inc(clusterStat(name, "upstream_rq_retry_success"))
			}
			return ex.finalize(res, attempt)
		}
		if !ex.mayRetry(cl, rs, pl) {
			return ex.finalize(res, attempt)
		}
		res.discard()
		ok := sleep(ex.p.clock, rs.backOff(ex.p.rand, ex.p.opts.RetryBackOff), ctx.Done())
		cl.releaseRetry()
		if !ok {
			return nil, ex.abandoned(ctx, name)
		}
	}
}

// mayRetry charges a retry against the remaining count and the circuit
// breaker; false means the current result is final.
func (ex *exchange) mayRetry(cl *upstreamCluster, rs *retryState, pl *payload) bool {
	name := cl.cfg.Name
	if rs.remaining <= 0 || !pl.replayable() {
		ex.p.stats.inc(clusterStat(name, "upstream_rq_retry_limit_exceeded"))
		ex.log.addFlag("URX")
		return false
	}
	if !cl.acquireRetry() {
		ex.p.stats.inc(clusterStat(name, "upstream_rq_retry_overflow"))
		return false
	}
	rs.remaining--
	ex.p.stats.inc(clusterStat(name, "upstream_rq_retry"))
	return true
}

// abandoned answers a request whose upstream work stopped early: the route
// timeout (504) or the downstream / ext_proc going away.
func (ex *exchange) abandoned(ctx context.Context, cluster string) *localReply {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && ex.ctx.Err() == nil {
		ex.p.stats.inc(clusterStat(cluster, "upstream_rq_timeout"))
		return &localReply{status: http.StatusGatewayTimeout, body: "upstream request timeout", flag: "UT", details: "upstream_response_timeout", viaFilters: true}
	}
	if r := ex.takeAsyncReply(); r != nil {
		return r
	}
	return &localReply{reset: true, flag: "DC", details: "downstream_remote_disconnect"}
}

// finalize turns the last attempt into the response or Envoy's local reply.
func (ex *exchange) finalize(res *attemptResult, attempts int) (*upstreamResponse, *localReply) {
	ex.log.upstreamHost = res.host.addr
	ex.log.attempts = attempts
	reason := "reset reason: "
	if attempts > 1 {
		reason = "retried and the latest reset reason: "
	}
	const prefix = "upstream connect error or disconnect/reset before headers. "
	switch res.kind {
	case attemptResponse:
		ex.onRelease(res.discard)
		return res.response(), nil
	case attemptConnectFailure:
		return nil, &localReply{status: http.StatusServiceUnavailable, flag: "UF", details: "upstream_reset_before_response_started{remote_connection_failure}",
			body: prefix + reason + "remote connection failure", viaFilters: true}
	case attemptPerTryTimeout:
		return nil, &localReply{status: http.StatusGatewayTimeout, flag: "UT", details: "upstream_per_try_timeout",
			body: "upstream request timeout", viaFilters: true}
	default:
		return nil, &localReply{status: http.StatusServiceUnavailable, flag: "UC", details: "upstream_reset_before_response_started{connection_termination}",
			body: prefix + reason + "connection termination", viaFilters: true}
	}
}

// response converts the upstream answer into the encoder's view: lower-case
// headers with :status, hop-by-hop removed, the router's service time added.
func (res *attemptResult) response() *upstreamResponse {
	h := &headerMap{}
	h.add(":status", strconv.Itoa(res.resp.StatusCode))
	h.fromHTTPHeader(res.resp.Header)
	h.stripHopByHop()
	h.set("x-envoy-upstream-service-time", strconv.FormatInt(res.elapsed.Milliseconds(), 10))
	noBody := res.resp.Body == http.NoBody || res.resp.ContentLength == 0
	return &upstreamResponse{headers: h, body: res.resp.Body, noBody: noBody}
}

func clusterStat(cluster, name string) string {
	return "cluster." + cluster + "." + name
}

// serviceTime is measured on the proxy clock.
func (ex *exchange) since(t time.Time) time.Duration {
	return ex.p.clock.Now().Sub(t)
}
