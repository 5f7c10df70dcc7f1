package envoysim

import (
	"time"
)

// outcome is how one upstream attempt ended, for outlier detection.
type outcome int

const (
	outcomeSuccess    outcome = iota // a response below 500
	outcome5xx                       // a 5xx response from the upstream
	outcomeLocalError                // connect failure, reset or timeout
)

// recordOutcome feeds consecutive-error detection. With
// split_external_local_origin_errors, local-origin failures count apart
// from upstream 5xx; without it they count as 5xx, like Envoy.
func (c *upstreamCluster) recordOutcome(h *upstreamHost, o outcome, now time.Time) {
	od := c.cfg.Outlier
	if od == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o == outcomeLocalError && !od.SplitExternalLocalOriginErrors {
		o = outcome5xx
	}
	switch o {
	case outcomeSuccess:
		h.consecutive5xx = 0
		h.consecutiveLocal = 0
	case outcome5xx:
		h.consecutive5xx++
		if od.SplitExternalLocalOriginErrors {
			// The connection worked: a local-origin success.
			h.consecutiveLocal = 0
		}
		if od.Consecutive5xx > 0 && h.consecutive5xx == od.Consecutive5xx {
			h.consecutive5xx = 0
			c.ejectLocked(h, "consecutive_5xx", od.Enforcing5xx, now)
		}
	case outcomeLocalError:
		h.consecutiveLocal++
		if od.ConsecutiveLocalOriginFailure > 0 && h.consecutiveLocal == od.ConsecutiveLocalOriginFailure {
			h.consecutiveLocal = 0
			c.ejectLocked(h, "consecutive_local_origin_failure", od.EnforcingLocalOriginFailure, now)
		}
	}
}

// ejectLocked ejects h unless enforcement or max_ejection_percent says no.
func (c *upstreamCluster) ejectLocked(h *upstreamHost, kind string, enforcing uint32, now time.Time) {
	od, name := c.cfg.Outlier, c.cfg.Name
	c.stats.inc(clusterStat(name, "outlier_detection.ejections_detected_"+kind))
	if h.ejected || !rollPercent(c.rand, uint64(enforcing), 100) {
		return
	}
	active := 0
	for _, o := range c.hosts {
		if o.ejected {
			active++
		}
	}
	if float64(active+1)*100/float64(len(c.hosts)) > float64(od.MaxEjectionPercent) &&
		!(od.AlwaysEjectOneHost && active == 0) {
		c.stats.inc(clusterStat(name, "outlier_detection.ejections_overflow"))
		return
	}
	h.ejected, h.ejectedAt = true, now
	h.ejections++
	c.stats.inc(clusterStat(name, "outlier_detection.ejections_enforced_total"))
	c.stats.inc(clusterStat(name, "outlier_detection.ejections_enforced_"+kind))
	c.stats.gaugeAdd(clusterStat(name, "outlier_detection.ejections_active"), 1)
}

// healthyLocked returns the hosts not ejected, bringing back those whose
// ejection time (base_ejection_time times ejections, capped) is over. Envoy
// does this on its interval timer; doing it at pick time is the same
// decision without the interval's rounding.
func (c *upstreamCluster) healthyLocked(now time.Time) []*upstreamHost {
	od := c.cfg.Outlier
	out := make([]*upstreamHost, 0, len(c.hosts))
	for _, h := range c.hosts {
		if h.ejected && od != nil {
			d := min(od.BaseEjectionTime*time.Duration(h.ejections), max(od.BaseEjectionTime, od.MaxEjectionTime))
			if !now.Before(h.ejectedAt.Add(d)) {
				h.ejected = false
				c.stats.gaugeAdd(clusterStat(c.cfg.Name, "outlier_detection.ejections_active"), -1)
			}
		}
		if !h.ejected {
			out = append(out, h)
		}
	}
	return out
}

// Ejected reports whether the endpoint addr of cluster is currently ejected
// by outlier detection (as of the proxy clock).
func (p *Proxy) Ejected(cluster, addr string) bool {
	c := p.clusters[cluster]
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healthyLocked(p.clock.Now())
	for _, h := range c.hosts {
		if h.addr == addr {
			return h.ejected
		}
	}
	return false
}
