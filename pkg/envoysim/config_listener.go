package envoysim

import (
	"errors"
	"fmt"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Well-known filter names; the stand-in insists a filter's name matches its
// typed_config so a copy-paste slip in envoy.yaml cannot go unnoticed.
const (
	filterHCM     = "envoy.filters.network.http_connection_manager"
	filterExtProc = "envoy.filters.http.ext_proc"
	filterFault   = "envoy.filters.http.fault"
	filterRouter  = "envoy.filters.http.router"
)

// defaultBufferLimit is Envoy's per_connection_buffer_limit_bytes default.
const defaultBufferLimit = 1 << 20

// Listener is the digest of the listener and its HTTP connection manager.
type Listener struct {
	Name    string
	Address string
	// BufferLimit bounds BUFFERED ext_proc bodies (413 / 500 beyond it) and
	// the request body kept for retries.
	BufferLimit int64
	StatPrefix  string

	UseRemoteAddress          bool
	GenerateRequestID         bool
	PreserveExternalRequestID bool
	RequestTimeout            time.Duration
	StreamIdleTimeout         time.Duration

	// Filters are the HTTP filter names in chain order.
	Filters      []string
	ExtProc      *ExtProc
	Fault        *Fault
	VirtualHosts []*VirtualHost
	AccessLogs   []*AccessLogFormat

	// HCM is the parsed connection manager, for tests.
	HCM *hcmv3.HttpConnectionManager
}

// VirtualHost is one virtual host of the inline route configuration.
type VirtualHost struct {
	Name    string
	Domains []string
	Routes  []*Route
}

// Route is one route entry; exactly one of Cluster and ClusterHeader is set.
type Route struct {
	Name string
	// Prefix or Path matches :path (without the query for Path).
	Prefix, Path string

	Cluster       string
	ClusterHeader string
	// ClusterNotFoundCode answers a missing or unknown cluster (NC).
	ClusterNotFoundCode int
	// Timeout covers the whole upstream exchange including retries; 0 means none.
	Timeout         time.Duration
	AutoHostRewrite bool
	Retry           *RetryPolicy
}

func digestListener(l *listenerv3.Listener) (*Listener, error) {
	addr, err := socketAddress(l.GetAddress())
	if err != nil {
		return nil, err
	}
	out := &Listener{Name: l.GetName(), Address: addr, BufferLimit: defaultBufferLimit}
	if v := l.GetPerConnectionBufferLimitBytes(); v != nil {
		out.BufferLimit = int64(v.GetValue())
	}
	chains := l.GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		return nil, errors.New("want one filter chain with one network filter (http_connection_manager)")
	}
	if chains[0].GetTransportSocket() != nil {
		return nil, errors.New("downstream TLS is not emulated")
	}
	nf := chains[0].GetFilters()[0]
	msg, err := unpackValidated(nf.GetTypedConfig())
	if err != nil {
		return nil, fmt.Errorf("network filter %q: %w", nf.GetName(), err)
	}
	hcm, ok := msg.(*hcmv3.HttpConnectionManager)
	if !ok || nf.GetName() != filterHCM {
		return nil, fmt.Errorf("network filter %q (%T) must be %s", nf.GetName(), msg, filterHCM)
	}
	if err := out.digestHCM(hcm); err != nil {
		return nil, err
	}
	return out, nil
}

func (l *Listener) digestHCM(hcm *hcmv3.HttpConnectionManager) error {
	l.HCM = hcm
	l.StatPrefix = hcm.GetStatPrefix()
	l.UseRemoteAddress = hcm.GetUseRemoteAddress().GetValue()
	l.GenerateRequestID = hcm.GetGenerateRequestId() == nil || hcm.GetGenerateRequestId().GetValue()
	l.PreserveExternalRequestID = hcm.GetPreserveExternalRequestId()
	l.RequestTimeout = durationOr(hcm.GetRequestTimeout(), 0)
	l.StreamIdleTimeout = durationOr(hcm.GetStreamIdleTimeout(), 5*time.Minute)
	rc := hcm.GetRouteConfig()
	if rc == nil {
		return errors.New("inline route_config is required (RDS is not emulated)")
	}
	for _, vh := range rc.GetVirtualHosts() {
		dvh, err := digestVirtualHost(vh)
		if err != nil {
			return fmt.Errorf("virtual host %q: %w", vh.GetName(), err)
		}
		l.VirtualHosts = append(l.VirtualHosts, dvh)
	}
	for _, al := range hcm.GetAccessLog() {
		f, err := digestAccessLog(al)
		if err != nil {
			return fmt.Errorf("access_log %q: %w", al.GetName(), err)
		}
		l.AccessLogs = append(l.AccessLogs, f)
	}
	return l.digestFilters(hcm.GetHttpFilters())
}

// digestFilters accepts the chain shapes the stand-in emulates: optional
// ext_proc, then optional fault, then the router last.
func (l *Listener) digestFilters(filters []*hcmv3.HttpFilter) error {
	for i, f := range filters {
		msg, err := unpackValidated(f.GetTypedConfig())
		if err != nil {
			return fmt.Errorf("http filter %q: %w", f.GetName(), err)
		}
		var want string
		switch m := msg.(type) {
		case *extprocfilterv3.ExternalProcessor:
			want = filterExtProc
			if l.ExtProc != nil || l.Fault != nil {
				return errors.New("ext_proc must appear once, before the fault filter")
			}
			if l.ExtProc, err = digestExtProc(m); err != nil {
				return fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
		case *faultv3.HTTPFault:
			want = filterFault
			if l.Fault != nil {
				return errors.New("fault filter must appear once")
			}
			if l.Fault, err = digestFault(m); err != nil {
				return fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
		case *routerv3.Router:
			want = filterRouter
			if i != len(filters)-1 {
				return errors.New("router must be the last http filter")
			}
		default:
			return fmt.Errorf("http filter %q: type %s is not emulated", f.GetName(), f.GetTypedConfig().GetTypeUrl())
		}
		if f.GetName() != want {
			return fmt.Errorf("http filter named %q carries the config of %s", f.GetName(), want)
		}
		if f.GetIsOptional() || f.GetDisabled() {
			return fmt.Errorf("http filter %q: is_optional/disabled are not emulated", f.GetName())
		}
		l.Filters = append(l.Filters, f.GetName())
	}
	if len(l.Filters) == 0 || l.Filters[len(l.Filters)-1] != filterRouter {
		return errors.New("the http filter chain must end with the router")
	}
	return nil
}

func digestVirtualHost(vh *routev3.VirtualHost) (*VirtualHost, error) {
	out := &VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
	if vh.GetRetryPolicy() != nil || len(vh.GetTypedPerFilterConfig()) > 0 {
		return nil, errors.New("virtual-host retry_policy / typed_per_filter_config are not emulated")
	}
	for _, r := range vh.GetRoutes() {
		dr, err := digestRoute(r)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r.GetName(), err)
		}
		out.Routes = append(out.Routes, dr)
	}
	return out, nil
}

func digestRoute(r *routev3.Route) (*Route, error) {
	out := &Route{Name: r.GetName()}
	m := r.GetMatch()
	switch {
	case m.GetPrefix() != "" || m.GetPathSpecifier() == nil:
		out.Prefix = m.GetPrefix()
	case m.GetPath() != "":
		out.Path = m.GetPath()
	default:
		return nil, errors.New("only prefix and path matches are emulated")
	}
	if len(m.GetHeaders()) > 0 || len(m.GetQueryParameters()) > 0 || len(r.GetTypedPerFilterConfig()) > 0 {
		return nil, errors.New("header/query matchers and typed_per_filter_config are not emulated")
	}
	a := r.GetRoute()
	if a == nil {
		return nil, errors.New("only route actions are emulated (no redirect/direct_response)")
	}
	out.Cluster, out.ClusterHeader = a.GetCluster(), a.GetClusterHeader()
	if out.Cluster == "" && out.ClusterHeader == "" {
		return nil, errors.New("route needs cluster or cluster_header")
	}
	out.ClusterNotFoundCode = clusterNotFoundCode(a.GetClusterNotFoundResponseCode())
	out.Timeout = durationOr(a.GetTimeout(), 15*time.Second)
	out.AutoHostRewrite = a.GetAutoHostRewrite().GetValue()
	if a.GetPrefixRewrite() != "" || a.GetRegexRewrite() != nil || a.GetHostRewriteLiteral() != "" {
		return nil, errors.New("path/host rewrites other than auto_host_rewrite are not emulated")
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		pol, err := digestRetryPolicy(rp)
		if err != nil {
			return nil, fmt.Errorf("retry_policy: %w", err)
		}
		out.Retry = pol
	}
	return out, nil
}

func clusterNotFoundCode(c routev3.RouteAction_ClusterNotFoundResponseCode) int {
	switch c {
	case routev3.RouteAction_NOT_FOUND:
		return 404
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		return 500
	default:
		return 503
	}
}
