package main

import (
	"fmt"
	"strings"

	"github.com/llm-gateway/gateway/pkg/loadgen"
)

// report is what a run measured; latencies in microseconds.
type report struct {
	Label       string  `json:"label,omitempty"`
	URL         string  `json:"url"`
	Stream      bool    `json:"stream"`
	Chunks      int     `json:"max_tokens"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"target_rate"`
	WallSeconds float64 `json:"wall_seconds"`

	// Requests were started; Completed answered 2xx and read to the end (SSE:
	// through [DONE]); Cancelled were abandoned mid-stream on purpose
	// (-cancel-fraction); Status counts every response by HTTP status;
	// Errors are failures without a status (connect, read, timeout) and
	// streams that ended without [DONE] (incomplete_stream).
	Requests  int64            `json:"requests"`
	Completed int64            `json:"completed"`
	Cancelled int64            `json:"cancelled"`
	Status    map[int]int64    `json:"status"`
	Errors    map[string]int64 `json:"errors"`
	// RequestsPerSecond counts every request started, whatever its outcome.
	RequestsPerSecond float64 `json:"requests_per_second"`
	// Missed are open-loop slots that found every worker busy.
	Missed int64 `json:"missed"`
	// Events are SSE data events read, [DONE] excluded; EventsPerRequest is
	// per completed stream (cmd/mock-llm: role, max_tokens content events,
	// finish, usage).
	Events           int64   `json:"sse_events"`
	EventsPerRequest float64 `json:"sse_events_per_request,omitempty"`

	// Latency is the whole request of completed ones; Headers until the
	// response headers; FirstByte until the first body byte, for SSE the first
	// event (time to first byte).
	Latency   loadgen.Latency `json:"latency"`
	Headers   loadgen.Latency `json:"headers"`
	FirstByte loadgen.Latency `json:"first_byte"`

	CPU []processCPU `json:"cpu,omitempty"`
}

// processCPU is the user+system CPU time a -pid process used over the run.
type processCPU struct {
	Name            string  `json:"name"`
	PID             int     `json:"pid"`
	Seconds         float64 `json:"seconds"`
	Cores           float64 `json:"cores"`
	PerRequestMicro float64 `json:"per_request_us"`
	Error           string  `json:"error,omitempty"`
}

// text is the report for people.
func (r report) text() string {
	var b strings.Builder
	body := "JSON"
	if r.Stream {
		body = "SSE"
	}
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s (missed %d)", r.Rate, r.Missed)
	}
	if r.Label != "" {
		fmt.Fprintf(&b, "%s: ", r.Label)
	}
	fmt.Fprintf(&b, "%s %s, max_tokens %d, concurrency %d, %s\n", r.URL, body, r.Chunks, r.Concurrency, loop)
	fmt.Fprintf(&b, "requests %d in %.2fs = %.1f req/s: completed %d, cancelled %d\n",
		r.Requests, r.WallSeconds, r.RequestsPerSecond, r.Completed, r.Cancelled)
	var parts []string
	for _, k := range sortedKeys(r.Status) {
		parts = append(parts, fmt.Sprintf("%d=%d", k, r.Status[k]))
	}
	fmt.Fprintf(&b, "status: %s\n", strings.Join(parts, " "))
	if len(r.Errors) > 0 {
		parts = parts[:0]
		for _, k := range sortedKeys(r.Errors) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.Errors[k]))
		}
		fmt.Fprintf(&b, "errors: %s\n", strings.Join(parts, " "))
	}
	if r.Stream {
		fmt.Fprintf(&b, "SSE events %d (%.1f per completed stream)\n", r.Events, r.EventsPerRequest)
	}
	fmt.Fprintf(&b, "%-12s %9s %9s %9s %9s %9s %9s\n", "latency µs", "count", "p50", "p90", "p99", "max", "mean")
	for _, l := range []struct {
		name string
		l    loadgen.Latency
	}{{"request", r.Latency}, {"headers", r.Headers}, {"first byte", r.FirstByte}} {
		fmt.Fprintf(&b, "%-12s %9d %9.1f %9.1f %9.1f %9.1f %9.1f\n", l.name, l.l.Count, l.l.P50, l.l.P90, l.l.P99, l.l.Max, l.l.Mean)
	}
	for _, c := range r.CPU {
		if c.Error != "" {
			fmt.Fprintf(&b, "CPU %s (pid %d): %s\n", c.Name, c.PID, c.Error)
			continue
		}
		fmt.Fprintf(&b, "CPU %s (pid %d): %.2fs, %.2f cores, %.1f µs/request\n", c.Name, c.PID, c.Seconds, c.Cores, c.PerRequestMicro)
	}
	return b.String()
}
