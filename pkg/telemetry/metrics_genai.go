package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The gen_ai_* series follow the OpenTelemetry GenAI client metrics
// (gen_ai.client.operation.duration, gen_ai.client.operation.time_to_first_chunk,
// gen_ai.client.token.usage) translated to Prometheus names: dots become
// underscores and the unit "s" becomes the _seconds suffix. The gateway is the
// GenAI *client* of its providers, so it reports the client metrics; the
// gen_ai.server.* ones belong to model servers measuring their own generation.
// Besides the semconv attributes every series carries "provider", the
// configured provider name, because gen_ai_provider_name is the provider kind
// and two deployments of one kind must stay apart on dashboards.

// UpstreamRecord is one call to a provider, reported when its response ends.
type UpstreamRecord struct {
	// Operation is gen_ai.operation.name; "" means "chat".
	Operation string
	// Provider is the configured provider name.
	Provider string
	// ProviderKind is gen_ai.provider.name ("openai", "vllm"); "" means Provider.
	ProviderKind string
	// Model is gen_ai.request.model: the model name sent to the provider. It
	// must be listed in KnownLabels.Models or it is recorded as LabelOther.
	Model string
	// Status is the provider's HTTP status; 0 when no response arrived.
	Status int
	// Duration runs from forwarding the request to the end of the response.
	Duration time.Duration
	// TimeToFirstChunk is set for streamed responses only, per the semconv.
	TimeToFirstChunk time.Duration
	// UsageKnown says InputTokens/OutputTokens are the provider's own counts;
	// without them no token usage is recorded, as the semconv requires.
	UsageKnown                bool
	InputTokens, OutputTokens int64
}

// operationBuckets are the semconv's advised boundaries for operation duration.
func operationBuckets() []float64 {
	return []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
}

// firstChunkBuckets are the semconv's advised boundaries for time to first token.
func firstChunkBuckets() []float64 {
	return []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
}

// tokenBuckets are the semconv's advised boundaries for token usage.
func tokenBuckets() []float64 {
	return []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
}

func (m *Metrics) newGenAI() {
	base := []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "provider"}
	m.opDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_operation_duration_seconds",
		Help:    "GenAI operation duration: provider call from request forwarded to response end.",
		Buckets: operationBuckets(),
	}, append(base[:len(base):len(base)], "error_type"))
	m.ttfc = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_operation_time_to_first_chunk_seconds",
		Help:    "Time from forwarding a streaming request to the first response chunk from the provider.",
		Buckets: firstChunkBuckets(),
	}, base)
	m.tokenUsage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gen_ai_client_token_usage",
		Help:    "Number of input and output tokens used per provider call, as reported by the provider.",
		Buckets: tokenBuckets(),
	}, append(base[:len(base):len(base)], "gen_ai_token_type"))
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_tokens_total",
		Help: "Tokens accounted to consumers, by model and type (input or output).",
	}, []string{"consumer", "model", "type"})
}

// ObserveUpstream records a provider call's duration, time to first chunk and
// token usage under the GenAI semantic conventions.
func (m *Metrics) ObserveUpstream(r UpstreamRecord) {
	op := r.Operation
	if op == "" {
		op = "chat"
	}
	provider := m.providers.value(r.Provider)
	kind := r.ProviderKind
	if kind == "" {
		kind = provider
	}
	model := m.models.value(r.Model)
	m.opDuration.WithLabelValues(op, kind, model, provider, m.errTypes.of(r.Status)).Observe(r.Duration.Seconds())
	if r.TimeToFirstChunk > 0 {
		m.ttfc.WithLabelValues(op, kind, model, provider).Observe(r.TimeToFirstChunk.Seconds())
	}
	if r.UsageKnown {
		m.tokenUsage.WithLabelValues(op, kind, model, provider, "input").Observe(float64(r.InputTokens))
		m.tokenUsage.WithLabelValues(op, kind, model, provider, "output").Observe(float64(r.OutputTokens))
	}
}

// AddTokens adds a request's tokens to its consumer's totals. Call it once per
// request with the reconciled counts (provider usage, or the estimate when the
// provider reported none).
func (m *Metrics) AddTokens(consumer, model string, input, output int64) {
	c, mo := m.consumers.value(consumer), m.models.value(model)
	if input > 0 {
		m.tokens.WithLabelValues(c, mo, "input").Add(float64(input))
	}
	if output > 0 {
		m.tokens.WithLabelValues(c, mo, "output").Add(float64(output))
	}
}
