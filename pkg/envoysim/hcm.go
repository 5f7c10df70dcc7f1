package envoysim

import (
	"net"
	"strings"
)

// edgeStrippedHeaders are the x-envoy-* headers Envoy's connection manager
// removes from external requests (ConnectionManagerUtility::
// cleanInternalHeaders). Other x-envoy-* headers, fault headers included,
// pass through: removing client copies of those is the processor's job.
var edgeStrippedHeaders = []string{
	"x-envoy-decorator-operation", "x-envoy-downstream-service-cluster",
	"x-envoy-downstream-service-node", "x-envoy-retriable-status-codes",
	"x-envoy-retriable-header-names", "x-envoy-retry-on", "x-envoy-retry-grpc-on",
	"x-envoy-max-retries", "x-envoy-upstream-alt-stat-name",
	"x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
	"x-envoy-upstream-rq-timeout-alt-response", "x-envoy-expected-rq-timeout-ms",
	"x-envoy-force-trace", "x-envoy-ip-tags", "x-envoy-original-url",
	"x-envoy-hedge-on-per-try-timeout", "x-envoy-internal", "x-envoy-external-address",
}

// prepareRequestHeaders builds the header map the filter chain sees, after
// the connection manager's own mutations.
func (ex *exchange) prepareRequestHeaders() {
	r, l := ex.r, ex.p.cfg.Listener
	h := &headerMap{}
	path := r.RequestURI
	if path == "" || !strings.HasPrefix(path, "/") {
		path = r.URL.RequestURI()
	}
	h.add(":authority", r.Host)
	h.add(":path", path)
	h.add(":method", r.Method)
	h.add(":scheme", "http")
	h.fromHTTPHeader(r.Header)
	h.stripHopByHop()
	// Envoy answers Expect: 100-continue itself (net/http did already).
	h.del("expect")
	remoteIP := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		remoteIP = host
	}
	if l.UseRemoteAddress {
		for _, name := range edgeStrippedHeaders {
			h.del(name)
		}
		if xff, ok := h.get("x-forwarded-for"); ok && xff != "" {
			h.set("x-forwarded-for", xff+","+remoteIP)
		} else {
			h.set("x-forwarded-for", remoteIP)
		}
		h.set("x-envoy-external-address", remoteIP)
		h.set("x-forwarded-proto", "http")
	}
	if l.GenerateRequestID {
		// An edge request's id is never trusted unless configured so.
		if _, ok := h.get("x-request-id"); !ok || !(l.PreserveExternalRequestID || !l.UseRemoteAddress) {
			h.set("x-request-id", newUUID(ex.p.rand))
		}
	}
	ex.req = h
}

// selectRoute matches the virtual host and route and resolves the cluster,
// reading cluster_header now: the result stays cached until a processor
// clears the route cache.
func (ex *exchange) selectRoute() {
	ex.route, ex.clusterName = nil, ""
	vh := matchVirtualHost(ex.p.cfg.Listener.VirtualHosts, ex.req.value(":authority"))
	if vh == nil {
		return
	}
	path := ex.req.value(":path")
	for _, rt := range vh.Routes {
		if routeMatches(rt, path) {
			ex.route = rt
			ex.clusterName = rt.Cluster
			if rt.ClusterHeader != "" {
				ex.clusterName = ex.req.value(rt.ClusterHeader)
			}
			ex.log.routeName = rt.Name
			return
		}
	}
}

func routeMatches(rt *Route, path string) bool {
	if rt.Path != "" {
		p, _, _ := strings.Cut(path, "?")
		return p == rt.Path
	}
	return strings.HasPrefix(path, rt.Prefix)
}

// matchVirtualHost follows Envoy's order: exact domain, suffix wildcard,
// prefix wildcard, then "*".
func matchVirtualHost(vhs []*VirtualHost, authority string) *VirtualHost {
	host := strings.ToLower(authority)
	var suffix, prefix, any *VirtualHost
	for _, vh := range vhs {
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			switch {
			case d == host:
				return vh
			case d == "*":
				if any == nil {
					any = vh
				}
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && suffix == nil:
				suffix = vh
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && prefix == nil:
				prefix = vh
			}
		}
	}
	for _, vh := range []*VirtualHost{suffix, prefix, any} {
		if vh != nil {
			return vh
		}
	}
	return nil
}
