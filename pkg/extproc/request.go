package extproc

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/policy"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/respfilter"
	"github.com/llm-gateway/gateway/pkg/router"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// endpoint is what the request asks the gateway to do.
type endpoint int

const (
	endpointUnknown endpoint = iota
	endpointChat
	endpointModels
)

// phase is where the request is in its ext_proc life.
type phase int

const (
	phaseRequestHeaders phase = iota
	phaseRequestBody
	phaseUpstream
	phaseResponseBody
	phaseDone
)

// request is the per-stream state machine. It is used by one goroutine only.
type request struct {
	// chunkAnswer is reused for every streamed response chunk.
	chunkAnswer chunkAnswer

	srv   *Server
	snap  *policy.Snapshot
	log   *slog.Logger
	start time.Time
	phase phase

	id       string
	method   string
	path     string
	endpoint endpoint
	consumer *policy.Consumer
	pinHint  string

	chat     *openai.ChatRequest
	provider *policy.Provider
	sel      *router.Selection
	upModel  string

	promptEstimate int64
	reservation    *quota.Reservation
	rateHeaders    [][2]string
	span           trace.Span
	spanCtx        context.Context
	upstreamStart  time.Time
	firstChunk     time.Duration
	usage          respfilter.Usage
	usageKnown     bool
	outputCounted  int64
	filter         *respfilter.Stream

	status     int
	answered   int // HTTP status the sidecar answered itself, if any
	errReason  string
	respStream bool
	respError  bool
	resp       responseState
	finished   bool
	canceled   bool
}

func newRequest(s *Server, snap *policy.Snapshot) *request {
	return &request{srv: s, snap: snap, log: s.opts.Logger, start: s.opts.Now()}
}

func (r *request) metrics() *telemetry.Metrics { return r.srv.opts.Metrics }

// handle answers one ProcessingRequest with exactly one matching response.
func (r *request) handle(ctx context.Context, req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	start := r.srv.opts.Now()
	switch m := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		defer r.observePhase(telemetry.PhaseRequestHeaders, start)
		return r.onRequestHeaders(ctx, m.RequestHeaders)
	case *extprocv3.ProcessingRequest_RequestBody:
		defer r.observePhase(telemetry.PhaseRequestBody, start)
		return r.onRequestBody(ctx, m.RequestBody)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		defer r.observePhase(telemetry.PhaseResponseHeaders, start)
		return r.onResponseHeaders(ctx, m.ResponseHeaders)
	case *extprocv3.ProcessingRequest_ResponseBody:
		defer r.observePhase(telemetry.PhaseResponseBody, start)
		return r.onResponseBody(ctx, m.ResponseBody)
	default:
		// Trailers are configured SKIP; answer anyway so a different Envoy config
		// cannot stall the stream.
		return trailersResponse(req)
	}
}

// reject answers the client directly with an OpenAI error and remembers why.
func (r *request) reject(e *openai.Error, reason string, extra [][2]string) *extprocv3.ProcessingResponse {
	r.answered = e.Status
	r.errReason = reason
	r.phase = phaseDone
	return errorResponse(e, extra)
}

func (r *request) observePhase(p telemetry.Phase, start time.Time) {
	r.metrics().ObservePhase(p, r.srv.opts.Now().Sub(start))
}

func (r *request) recvError(err error) {
	if r.phase != phaseDone {
		r.canceled = true
	}
}

// headerValue is one header's value: raw_value, or value when that is empty.
func headerValue(hv *corev3.HeaderValue) string {
	if v := hv.GetRawValue(); len(v) > 0 {
		return string(v)
	}
	return hv.GetValue()
}
