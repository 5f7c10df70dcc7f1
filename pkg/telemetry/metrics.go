package telemetry

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the gateway's Prometheus instrumentation. Its methods are safe
// for concurrent use and cheap enough for the ext_proc hot path: closed label
// sets are resolved once at construction, open ones pass through a guard.
type Metrics struct {
	gatherer prometheus.Gatherer

	consumers, models, providers labelGuard
	errTypes                     *errorTypes

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	phaseDuration   *prometheus.HistogramVec
	phases          [numPhases]prometheus.Observer
	inflight        prometheus.Gauge

	opDuration *prometheus.HistogramVec
	ttfc       *prometheus.HistogramVec
	tokenUsage *prometheus.HistogramVec
	tokens     *prometheus.CounterVec

	policyMetrics
	opsMetrics

	buildInfo *prometheus.GaugeVec
}

// NewMetrics creates every gateway series on reg, together with the Go runtime
// and process collectors. reg must also be a prometheus.Gatherer (a
// *prometheus.Registry is) so Handler can serve it; nil means a fresh registry.
// Until SetKnownLabels is called, every consumer, model and provider is
// recorded as LabelOther.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		return nil, errors.New("telemetry: the registerer must also be a prometheus.Gatherer")
	}
	m := &Metrics{gatherer: g, errTypes: newErrorTypes()}
	m.newTraffic()
	m.newGenAI()
	m.newPolicy()
	m.newOps()
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_build_info",
		Help: "Always 1; labels carry the gateway version and the Go version it was built with.",
	}, []string{"version", "goversion"})

	if err := registerAll(reg, m.collectors()); err != nil {
		return nil, err
	}
	if err := registerRuntime(reg); err != nil {
		return nil, err
	}
	m.SetBuildInfo(mainVersion())
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	cs := []prometheus.Collector{
		m.requests, m.requestDuration, m.phaseDuration, m.inflight,
		m.opDuration, m.ttfc, m.tokenUsage, m.tokens, m.buildInfo,
	}
	cs = append(cs, m.policyMetrics.collectors()...)
	return append(cs, m.opsMetrics.collectors()...)
}

func registerAll(reg prometheus.Registerer, cs []prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: register metrics: %w", err)
	}
	return nil
}

// registerRuntime adds the Go and process collectors, tolerating a registry
// that already has them (a caller sharing its own registry).
func registerRuntime(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		var already prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &already) {
			return fmt.Errorf("telemetry: register runtime collector: %w", err)
		}
	}
	return nil
}

// Handler serves the registry in the Prometheus exposition format (/metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// SetKnownLabels replaces the consumers, models and providers that may appear
// as label values. Call it at startup and after every config reload. Gauges of
// consumers and providers that left the configuration are deleted so their
// last values do not linger on dashboards; counters keep their history.
func (m *Metrics) SetKnownLabels(k KnownLabels) {
	for _, c := range m.consumers.set(k.Consumers) {
		m.budgetUsed.DeletePartialMatch(prometheus.Labels{"consumer": c})
		m.budgetRemaining.DeletePartialMatch(prometheus.Labels{"consumer": c})
	}
	m.models.set(k.Models)
	for _, p := range m.providers.set(k.Providers) {
		m.breakerState.DeletePartialMatch(prometheus.Labels{"provider": p})
	}
}

// SetBuildInfo publishes the gateway version (NewMetrics uses the module
// version from the binary's build info; release builds may override it).
func (m *Metrics) SetBuildInfo(version string) {
	if version == "" {
		version = "unknown"
	}
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

func mainVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
