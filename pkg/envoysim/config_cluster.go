package envoysim

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// Cluster is the digest of one static cluster.
type Cluster struct {
	Name           string
	Type           clusterv3.Cluster_DiscoveryType
	Endpoints      []Endpoint
	ConnectTimeout time.Duration
	// TLS is set when the cluster has an UpstreamTlsContext transport socket.
	TLS *UpstreamTLS
	// HTTP2 is true when the upstream protocol is (or may be) HTTP/2.
	HTTP2 bool
	// KeepaliveInterval/Timeout come from http2_protocol_options.connection_keepalive.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	Thresholds                          Thresholds
	// Outlier is nil when outlier_detection is absent.
	Outlier *Outlier
	// PanicThreshold is common_lb_config.healthy_panic_threshold in percent.
	PanicThreshold float64
}

// Endpoint is one upstream host.
type Endpoint struct {
	Host string
	Port int
}

// Address is host:port.
func (e Endpoint) Address() string { return joinHostPort(e.Host, e.Port) }

// UpstreamTLS is the part of UpstreamTlsContext the stand-in applies.
type UpstreamTLS struct {
	SNI    string
	CAFile string
	ALPN   []string
}

// Thresholds are the DEFAULT-priority circuit breaker limits.
type Thresholds struct {
	MaxConnections, MaxPendingRequests, MaxRequests, MaxRetries uint32
	// RetryBudget, when set, replaces MaxRetries.
	RetryBudget *RetryBudget
}

// RetryBudget is circuit_breakers.thresholds.retry_budget.
type RetryBudget struct {
	Percent        float64
	MinConcurrency uint32
}

// Outlier is the digest of outlier_detection with Envoy's defaults applied.
type Outlier struct {
	Consecutive5xx, ConsecutiveLocalOriginFailure      uint32
	Enforcing5xx, EnforcingLocalOriginFailure          uint32
	Interval, BaseEjectionTime, MaxEjectionTime        time.Duration
	MaxEjectionPercent                                 uint32
	SplitExternalLocalOriginErrors, AlwaysEjectOneHost bool
}

func digestCluster(c *clusterv3.Cluster) (*Cluster, error) {
	out := &Cluster{
		Name:           c.GetName(),
		Type:           c.GetType(),
		ConnectTimeout: durationOr(c.GetConnectTimeout(), 5*time.Second),
		PanicThreshold: 50,
	}
	switch out.Type {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
	default:
		return nil, fmt.Errorf("cluster type %s is not emulated", out.Type)
	}
	if pt := c.GetCommonLbConfig().GetHealthyPanicThreshold(); pt != nil {
		out.PanicThreshold = pt.GetValue()
	}
	if err := out.digestEndpoints(c); err != nil {
		return nil, err
	}
	if err := out.digestProtocol(c); err != nil {
		return nil, err
	}
	out.Thresholds = digestThresholds(c.GetCircuitBreakers())
	if od := c.GetOutlierDetection(); od != nil {
		out.Outlier = digestOutlier(od)
	}
	return out, nil
}

func (c *Cluster) digestEndpoints(pc *clusterv3.Cluster) error {
	for _, le := range pc.GetLoadAssignment().GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil || sa.GetPortValue() == 0 {
				return errors.New("endpoints need socket_address with port_value")
			}
			c.Endpoints = append(c.Endpoints, Endpoint{Host: sa.GetAddress(), Port: int(sa.GetPortValue())})
		}
	}
	if len(c.Endpoints) == 0 {
		return errors.New("load_assignment has no endpoints")
	}
	if c.Type == clusterv3.Cluster_LOGICAL_DNS && len(c.Endpoints) != 1 {
		return errors.New("LOGICAL_DNS clusters take exactly one endpoint")
	}
	return nil
}

func (c *Cluster) digestProtocol(pc *clusterv3.Cluster) error {
	if ts := pc.GetTransportSocket(); ts != nil {
		msg, err := unpackValidated(ts.GetTypedConfig())
		if err != nil {
			return fmt.Errorf("transport_socket: %w", err)
		}
		tc, ok := msg.(*tlsv3.UpstreamTlsContext)
		if !ok {
			return fmt.Errorf("transport_socket %T is not emulated", msg)
		}
		c.TLS = &UpstreamTLS{
			SNI:    tc.GetSni(),
			CAFile: tc.GetCommonTlsContext().GetValidationContext().GetTrustedCa().GetFilename(),
			ALPN:   tc.GetCommonTlsContext().GetAlpnProtocols(),
		}
	}
	if pc.GetHttp2ProtocolOptions() != nil {
		c.HTTP2 = true
	}
	for key, a := range pc.GetTypedExtensionProtocolOptions() {
		if key != httpProtocolOptionsKey {
			return fmt.Errorf("typed_extension_protocol_options %q is not emulated", key)
		}
		msg, err := unpackValidated(a)
		if err != nil {
			return fmt.Errorf("typed_extension_protocol_options: %w", err)
		}
		hpo, ok := msg.(*upstreamhttpv3.HttpProtocolOptions)
		if !ok {
			return fmt.Errorf("typed_extension_protocol_options %q carries %T", key, msg)
		}
		h2 := hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions()
		if h2 == nil {
			h2 = hpo.GetAutoConfig().GetHttp2ProtocolOptions()
		}
		if h2 != nil {
			c.HTTP2 = true
			c.KeepaliveInterval = durationOr(h2.GetConnectionKeepalive().GetInterval(), 0)
			c.KeepaliveTimeout = durationOr(h2.GetConnectionKeepalive().GetTimeout(), 0)
		}
	}
	return nil
}

func digestThresholds(cb *clusterv3.CircuitBreakers) Thresholds {
	out := Thresholds{MaxConnections: 1024, MaxPendingRequests: 1024, MaxRequests: 1024, MaxRetries: 3}
	for _, t := range cb.GetThresholds() {
		if t.GetPriority() != 0 { // only DEFAULT routing priority is used
			continue
		}
		setU32(&out.MaxConnections, t.GetMaxConnections().GetValue(), t.GetMaxConnections() != nil)
		setU32(&out.MaxPendingRequests, t.GetMaxPendingRequests().GetValue(), t.GetMaxPendingRequests() != nil)
		setU32(&out.MaxRequests, t.GetMaxRequests().GetValue(), t.GetMaxRequests() != nil)
		setU32(&out.MaxRetries, t.GetMaxRetries().GetValue(), t.GetMaxRetries() != nil)
		if rb := t.GetRetryBudget(); rb != nil {
			out.RetryBudget = &RetryBudget{Percent: 20, MinConcurrency: 3}
			if rb.GetBudgetPercent() != nil {
				out.RetryBudget.Percent = rb.GetBudgetPercent().GetValue()
			}
			if rb.GetMinRetryConcurrency() != nil {
				out.RetryBudget.MinConcurrency = rb.GetMinRetryConcurrency().GetValue()
			}
		}
	}
	return out
}

func setU32(dst *uint32, v uint32, set bool) {
	if set {
		*dst = v
	}
}

func digestOutlier(od *clusterv3.OutlierDetection) *Outlier {
	u32 := func(v interface{ GetValue() uint32 }, isSet bool, def uint32) uint32 {
		if isSet {
			return v.GetValue()
		}
		return def
	}
	return &Outlier{
		Consecutive5xx:                 u32(od.GetConsecutive_5Xx(), od.GetConsecutive_5Xx() != nil, 5),
		Enforcing5xx:                   u32(od.GetEnforcingConsecutive_5Xx(), od.GetEnforcingConsecutive_5Xx() != nil, 100),
		ConsecutiveLocalOriginFailure:  u32(od.GetConsecutiveLocalOriginFailure(), od.GetConsecutiveLocalOriginFailure() != nil, 5),
		EnforcingLocalOriginFailure:    u32(od.GetEnforcingConsecutiveLocalOriginFailure(), od.GetEnforcingConsecutiveLocalOriginFailure() != nil, 100),
		Interval:                       durationOr(od.GetInterval(), 10*time.Second),
		BaseEjectionTime:               durationOr(od.GetBaseEjectionTime(), 30*time.Second),
		MaxEjectionTime:                durationOr(od.GetMaxEjectionTime(), 300*time.Second),
		MaxEjectionPercent:             u32(od.GetMaxEjectionPercent(), od.GetMaxEjectionPercent() != nil, 10),
		SplitExternalLocalOriginErrors: od.GetSplitExternalLocalOriginErrors(),
		AlwaysEjectOneHost:             od.GetAlwaysEjectOneHost().GetValue(),
	}
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
