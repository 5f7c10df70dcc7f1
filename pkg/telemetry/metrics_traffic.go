package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RequestRecord is one finished request as the sidecar saw it.
type RequestRecord struct {
	// Consumer is the configured consumer id; "" before authentication.
	Consumer string
	// Model is the client-facing model name; "" when the body was never read.
	Model string
	// Provider is the configured provider name; "" when none was chosen.
	Provider string
	// Endpoint is a fixed name chosen by the caller ("chat_completions",
	// "models", ...), never the raw path.
	Endpoint string
	// Status is the HTTP status the client got; 0 when none was sent.
	Status int
	// Duration runs from the request headers to the end of the stream.
	Duration time.Duration
}

// requestBuckets span fast local rejections to long generations.
func requestBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160}
}

// phaseBuckets resolve sub-millisecond sidecar work; the top bucket is far past
// Envoy's default 200 ms message timeout.
func phaseBuckets() []float64 {
	return []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
}

func (m *Metrics) newTraffic() {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_requests_total",
		Help: "Requests finished by the sidecar, by consumer, model, provider, endpoint and HTTP status class.",
	}, []string{"consumer", "model", "provider", "endpoint", "status_class"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_request_duration_seconds",
		Help:    "Whole-request duration as the sidecar sees it, from request headers to end of stream.",
		Buckets: requestBuckets(),
	}, []string{"endpoint", "model", "provider"})
	m.phaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_phase_duration_seconds",
		Help:    "Sidecar processing time per ext_proc message, by phase.",
		Buckets: phaseBuckets(),
	}, []string{"phase"})
	for p := range numPhases {
		m.phases[p] = m.phaseDuration.WithLabelValues(p.String())
	}
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gateway_inflight_requests",
		Help: "Requests currently being processed by the sidecar.",
	})
}

// ObserveRequest counts a finished request and records its duration.
func (m *Metrics) ObserveRequest(r RequestRecord) {
	consumer := m.consumers.value(r.Consumer)
	model := m.models.value(r.Model)
	provider := m.providers.value(r.Provider)
	endpoint := r.Endpoint
	if endpoint == "" {
		endpoint = LabelNone
	}
	m.requests.WithLabelValues(consumer, model, provider, endpoint, statusClass(r.Status)).Inc()
	m.requestDuration.WithLabelValues(endpoint, model, provider).Observe(r.Duration.Seconds())
}

// ObservePhase records how long the sidecar took to answer one ext_proc message.
func (m *Metrics) ObservePhase(p Phase, d time.Duration) {
	if p < numPhases {
		m.phases[p].Observe(d.Seconds())
	}
}

// IncInflight marks a request as started; pair it with DecInflight.
func (m *Metrics) IncInflight() { m.inflight.Inc() }

// DecInflight marks a request as finished.
func (m *Metrics) DecInflight() { m.inflight.Dec() }
