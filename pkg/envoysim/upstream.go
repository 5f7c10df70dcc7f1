package envoysim

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
)

// upstreamCluster is the runtime side of a cluster: hosts, load balancing,
// circuit breakers, outlier state and the connection pool.
type upstreamCluster struct {
	cfg       *Cluster
	scheme    string
	transport *http.Transport
	hosts     []*upstreamHost
	stats     *stats
	rand      Rand

	mu             sync.Mutex
	rr             int
	activeRequests int64
	activeRetries  int64
}

// upstreamHost is one endpoint; outlier fields are guarded by the cluster mutex.
type upstreamHost struct {
	addr string
	// hostname is what auto_host_rewrite puts in Host: the DNS name of DNS
	// clusters, nothing for STATIC ones.
	hostname string

	consecutive5xx, consecutiveLocal uint32
	ejected                          bool
	ejectedAt                        time.Time
	ejections                        uint32
}

// newUpstreamCluster builds the runtime cluster; remap ("host:port[,...]",
// optionally prefixed https://) replaces the configured endpoints and speaks
// plain HTTP unless the prefix keeps TLS.
func newUpstreamCluster(c *Cluster, remap string, st *stats, r Rand) (*upstreamCluster, error) {
	uc := &upstreamCluster{cfg: c, stats: st, rand: r, scheme: "http"}
	useTLS := c.TLS != nil
	addrs := make([]string, 0, len(c.Endpoints))
	for _, e := range c.Endpoints {
		addrs = append(addrs, e.Address())
	}
	if remap != "" {
		useTLS = strings.HasPrefix(remap, "https://")
		remap = strings.TrimPrefix(strings.TrimPrefix(remap, "https://"), "http://")
		addrs = strings.Split(remap, ",")
	}
	for i, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("cluster %q address %q: %w", c.Name, a, err)
		}
		h := &upstreamHost{addr: a}
		if c.Type != clusterv3.Cluster_STATIC {
			h.hostname = c.Endpoints[i%len(c.Endpoints)].Host
		}
		uc.hosts = append(uc.hosts, h)
	}
	var tlsConf *tls.Config
	if useTLS {
		uc.scheme = "https"
		var err error
		if tlsConf, err = clientTLS(c.TLS); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.Name, err)
		}
	}
	uc.transport = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: c.ConnectTimeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Hour,
		// Envoy never adds or strips content encodings.
		DisableCompression: true,
	}
	return uc, nil
}

func clientTLS(u *UpstreamTLS) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if u == nil {
		return conf, nil
	}
	conf.ServerName = u.SNI
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		if err != nil {
			return nil, fmt.Errorf("trusted_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trusted_ca %s: no certificates", u.CAFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// acquireRequest enforces max_requests (overflow answers 503 UO).
func (c *upstreamCluster) acquireRequest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.activeRequests >= int64(c.cfg.Thresholds.MaxRequests) {
		return false
	}
	c.activeRequests++
	return true
}

func (c *upstreamCluster) releaseRequest() {
	c.mu.Lock()
	c.activeRequests--
	c.mu.Unlock()
}

// acquireRetry enforces max_retries, or the retry budget when configured.
func (c *upstreamCluster) acquireRetry() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := int64(c.cfg.Thresholds.MaxRetries)
	if b := c.cfg.Thresholds.RetryBudget; b != nil {
		limit = max(int64(b.MinConcurrency), int64(b.Percent/100*float64(c.activeRequests)))
	}
	if c.activeRetries >= limit {
		return false
	}
	c.activeRetries++
	return true
}

func (c *upstreamCluster) releaseRetry() {
	c.mu.Lock()
	c.activeRetries--
	c.mu.Unlock()
}

// pick chooses a host round-robin among healthy ones (all of them in panic
// mode), avoiding already tried hosts for up to attempts selections when
// the previous_hosts predicate is on.
func (c *upstreamCluster) pick(now time.Time, tried map[*upstreamHost]bool, attempts int) *upstreamHost {
	c.mu.Lock()
	defer c.mu.Unlock()
	candidates := c.healthyLocked(now)
	if float64(len(candidates))*100 < c.cfg.PanicThreshold*float64(len(c.hosts)) {
		c.stats.inc(clusterStat(c.cfg.Name, "lb_healthy_panic"))
		candidates = c.hosts
	}
	if len(candidates) == 0 {
		return nil
	}
	var h *upstreamHost
	for i := 0; i <= attempts; i++ {
		h = candidates[c.rr%len(candidates)]
		c.rr++
		if !tried[h] {
			break
		}
	}
	return h
}
