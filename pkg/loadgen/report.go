package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is what a run measured. Latencies are in microseconds.
type Report struct {
	Target      string  `json:"target"`
	Stream      bool    `json:"stream"`
	Chunks      int     `json:"chunks_per_request"`
	Concurrency int     `json:"concurrency"`
	Connections int     `json:"connections"`
	Rate        float64 `json:"target_rate"`
	WallSeconds float64 `json:"wall_seconds"`

	// Requests is every stream started; Completed those that went through every
	// phase; Immediate those the server answered itself, by HTTP status;
	// Errors the failed ones by kind (grpc_<Code>, closed_early,
	// spurious_answer), plus close_<kind> for streams that failed at the end.
	Requests  int64            `json:"requests"`
	Completed int64            `json:"completed"`
	Immediate map[int]int64    `json:"immediate"`
	Errors    map[string]int64 `json:"errors"`
	// RequestsPerSecond counts every finished request, whatever its outcome.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// ChunksSent is the SSE token events the server saw; StreamedResponses the
	// responses the server switched to STREAMED.
	ChunksSent        int64 `json:"chunks_sent"`
	StreamedResponses int64 `json:"streamed_responses"`
	// SlowAnswers exceeded Envoy's message_timeout; Missed are open-loop slots
	// that found every worker busy.
	SlowAnswers int64 `json:"slow_answers"`
	Missed      int64 `json:"missed"`

	// Phases has one entry per message kind sent: the time from sending it to
	// receiving its answer. Request is from opening the stream to the last answer.
	Phases  map[string]Latency `json:"phases"`
	Request Latency            `json:"request"`

	// ServerCPU is set when Options.ServerPID is; ClientCPU is this process
	// (which includes the server when it runs in the same process).
	ServerCPU *CPU `json:"server_cpu,omitempty"`
	ClientCPU CPU  `json:"client_cpu"`
}

// Latency summarises one histogram, in microseconds. Percentiles are bucket
// upper bounds (within 0.8%); Max is exact.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// CPU is user+system CPU time over the run. Per-request figures divide by every
// request started, whatever its outcome. Per-chunk figures divide the whole
// time by the chunks, so they include each request's fixed cost; compare with
// a non-streaming run for the marginal cost of a chunk.
type CPU struct {
	PID             int     `json:"pid,omitempty"`
	Seconds         float64 `json:"seconds"`
	Cores           float64 `json:"cores"`
	PerRequestMicro float64 `json:"per_request_us"`
	PerChunkMicro   float64 `json:"per_chunk_us,omitempty"`
}

func buildReport(o Options, rec *recorder, missed int64, wall time.Duration, before, after cpuSample) Report {
	rep := Report{
		Target: o.Addr, Stream: o.Stream, Chunks: o.Chunks, Concurrency: o.Concurrency,
		Connections: o.Connections, Rate: o.Rate, WallSeconds: wall.Seconds(),
		Requests: rec.requests, Completed: rec.completed, Immediate: rec.immediate, Errors: rec.errors,
		ChunksSent: rec.chunks, StreamedResponses: rec.streamed, SlowAnswers: rec.slowAnswers, Missed: missed,
		Phases: map[string]Latency{}, Request: summarize(rec.request),
	}
	if wall > 0 {
		rep.RequestsPerSecond = float64(rec.requests) / wall.Seconds()
	}
	for p := range numPhases {
		if rec.phases[p].n > 0 {
			rep.Phases[p.String()] = summarize(rec.phases[p])
		}
	}
	rep.ClientCPU = cpuUsage(after.self-before.self, wall, rec)
	if o.ServerPID != 0 {
		c := cpuUsage(after.server-before.server, wall, rec)
		c.PID = o.ServerPID
		rep.ServerCPU = &c
	}
	return rep
}

func summarize(h *histogram) Latency {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{
		Count: int64(h.n), Mean: us(h.mean()),
		P50: us(h.quantile(0.5)), P90: us(h.quantile(0.9)), P99: us(h.quantile(0.99)),
		P999: us(h.quantile(0.999)), Max: us(h.max),
	}
}

func cpuUsage(d, wall time.Duration, rec *recorder) CPU {
	c := CPU{Seconds: d.Seconds()}
	if wall > 0 {
		c.Cores = d.Seconds() / wall.Seconds()
	}
	if rec.requests > 0 {
		c.PerRequestMicro = float64(d.Microseconds()) / float64(rec.requests)
	}
	if rec.chunks > 0 {
		c.PerChunkMicro = float64(d.Microseconds()) / float64(rec.chunks)
	}
	return c
}

// WriteText prints the report for people.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s (missed %d)", r.Rate, r.Missed)
	}
	body := "JSON"
	if r.Stream {
		body = fmt.Sprintf("SSE, %d chunks", r.Chunks)
	}
	fmt.Fprintf(&b, "target %s: %s, concurrency %d over %d connections, %s\n", r.Target, body, r.Concurrency, r.Connections, loop)
	fmt.Fprintf(&b, "requests %d in %.2fs = %.1f req/s: completed %d, immediate %d, errors %d\n",
		r.Requests, r.WallSeconds, r.RequestsPerSecond, r.Completed, sum(r.Immediate), sum(r.Errors))
	if len(r.Immediate) > 0 {
		fmt.Fprintf(&b, "immediate responses: %s\n", counts(r.Immediate, strconv.Itoa))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "errors: %s\n", counts(r.Errors, func(s string) string { return s }))
	}
	if r.Stream {
		fmt.Fprintf(&b, "chunks sent %d, responses streamed %d\n", r.ChunksSent, r.StreamedResponses)
	}
	if r.SlowAnswers > 0 {
		fmt.Fprintf(&b, "answers slower than message_timeout: %d\n", r.SlowAnswers)
	}
	fmt.Fprintf(&b, "%-16s %9s %9s %9s %9s %9s %9s %9s\n", "latency µs", "count", "p50", "p90", "p99", "p99.9", "max", "mean")
	for p := range numPhases {
		if l, ok := r.Phases[p.String()]; ok {
			writeLatency(&b, p.String(), l)
		}
	}
	writeLatency(&b, "whole request", r.Request)
	if r.ServerCPU != nil {
		writeCPU(&b, fmt.Sprintf("server CPU (pid %d)", r.ServerCPU.PID), *r.ServerCPU)
	}
	writeCPU(&b, "load tool CPU", r.ClientCPU)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLatency(w io.Writer, name string, l Latency) {
	fmt.Fprintf(w, "%-16s %9d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", name, l.Count, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
}

func writeCPU(w io.Writer, name string, c CPU) {
	fmt.Fprintf(w, "%s: %.2fs, %.2f cores, %.1f µs/request", name, c.Seconds, c.Cores, c.PerRequestMicro)
	if c.PerChunkMicro > 0 {
		fmt.Fprintf(w, ", %.2f µs/chunk", c.PerChunkMicro)
	}
	fmt.Fprintln(w)
}

func sum[K comparable](m map[K]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func counts[K int | string](m map[K]int64, name func(K) string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", name(k), m[k]))
	}
	return strings.Join(parts, " ")
}
