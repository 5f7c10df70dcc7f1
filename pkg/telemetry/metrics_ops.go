package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// opsMetrics describe the gateway's own dependencies: the quota store and the
// configuration file.
type opsMetrics struct {
	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
	fallback       prometheus.Counter
	pending        prometheus.Gauge
	pendingDropped prometheus.Counter
	leases         *prometheus.CounterVec
	leaseGranted   prometheus.Counter
	leaseRefused   prometheus.Counter
	leasedAdmitted prometheus.Counter

	reloadVec         *prometheus.CounterVec
	reloadOK          prometheus.Counter
	reloadFailed      prometheus.Counter
	lastReloadSuccess prometheus.Gauge
}

func (o *opsMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		o.storeDuration, o.storeErrors, o.fallback, o.pending, o.pendingDropped,
		o.leases, o.leasedAdmitted, o.reloadVec, o.lastReloadSuccess,
	}
}

// storeBuckets cover a healthy Redis round trip (~100µs) up to calls that
// would already have blown Envoy's message timeout.
func storeBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5}
}

func (m *Metrics) newOps() {
	o := &m.opsMetrics
	o.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_quota_store_duration_seconds",
		Help:    "Quota store call duration, by operation, including failed calls.",
		Buckets: storeBuckets(),
	}, []string{"operation"})
	o.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_quota_store_errors_total",
		Help: "Quota store calls that failed or timed out, by operation.",
	}, []string{"operation"})
	o.fallback = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_quota_fallback_total",
		Help: "Admissions decided by the local fallback limiter because the store was unavailable.",
	})
	o.pending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_quota_pending_usage",
		Help: "Usage records waiting to be written to the store after it was unreachable.",
	})
	o.pendingDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_quota_pending_dropped_total",
		Help: "Usage records dropped because the pending queue was full.",
	})
	o.leases = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_quota_leases_total",
		Help: "Quota leases asked of the store, by result: granted, or refused (the request was then decided alone).",
	}, []string{"result"})
	o.leaseGranted = o.leases.WithLabelValues("granted")
	o.leaseRefused = o.leases.WithLabelValues("refused")
	o.leasedAdmitted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_quota_leased_admissions_total",
		Help: "Requests admitted from leased quota credit, without a store call.",
	})
	o.reloadVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_config_reloads_total",
		Help: "Configuration reload attempts, by result.",
	}, []string{"result"})
	o.reloadOK = o.reloadVec.WithLabelValues("success")
	o.reloadFailed = o.reloadVec.WithLabelValues("failure")
	o.lastReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last configuration load that succeeded (the initial load included).",
	})
}

// ObserveQuotaStore records one quota store call. operation must be a fixed
// name from the caller's code ("admit", "reconcile", ...); err counts a failure.
func (m *Metrics) ObserveQuotaStore(operation string, d time.Duration, err error) {
	m.storeDuration.WithLabelValues(operation).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(operation).Inc()
	}
}

// QuotaFallback counts an admission decided by the local fallback limiter.
func (m *Metrics) QuotaFallback() { m.fallback.Inc() }

// SetQuotaPending publishes how many usage records wait for the store.
func (m *Metrics) SetQuotaPending(n int) { m.pending.Set(float64(n)) }

// QuotaPendingDropped counts usage records dropped from a full pending queue.
func (m *Metrics) QuotaPendingDropped(n int) {
	if n > 0 {
		m.pendingDropped.Add(float64(n))
	}
}

// QuotaLease counts a lease the store granted or refused.
func (m *Metrics) QuotaLease(granted bool) {
	if granted {
		m.leaseGranted.Inc()
	} else {
		m.leaseRefused.Inc()
	}
}

// QuotaLeasedAdmission counts a request admitted from leased credit.
func (m *Metrics) QuotaLeasedAdmission() { m.leasedAdmitted.Inc() }

// ConfigReloaded records a configuration load: err nil is a success at time at.
func (m *Metrics) ConfigReloaded(err error, at time.Time) {
	if err != nil {
		m.reloadFailed.Inc()
		return
	}
	m.reloadOK.Inc()
	m.lastReloadSuccess.Set(float64(at.UnixNano()) / 1e9)
}

// QuotaStoreError counts a failed or refused quota store call whose latency was
// reported separately.
func (m *Metrics) QuotaStoreError(operation string) {
	m.storeErrors.WithLabelValues(operation).Inc()
}
