package loadgen

import (
	"fmt"
	"time"
)

// Histogram is the load tool's latency histogram for other measuring tools
// (cmd/http-load): log-linear buckets, percentiles within 0.8%, exact min and
// max. It is not safe for concurrent use; keep one per worker and Merge.
type Histogram struct{ h histogram }

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{} }

// Record adds one duration (negative durations count as 0).
func (h *Histogram) Record(d time.Duration) { h.h.record(d) }

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) { h.h.merge(&o.h) }

// Count is the number of values recorded.
func (h *Histogram) Count() int64 { return int64(h.h.n) }

// Quantile is the upper bound of the bucket holding rank ceil(q*n), clamped
// to the exact minimum and maximum; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration { return h.h.quantile(q) }

// Summary is the histogram in the report's form, in microseconds.
func (h *Histogram) Summary() Latency { return summarize(&h.h) }

// ProcessCPU is the user+system CPU time pid has used so far, read from
// /proc/<pid>/stat (Linux only; 10 ms resolution).
func ProcessCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("loadgen: pid %d: must be positive", pid)
	}
	s, err := sampleCPU(pid)
	return s.server, err
}

// CheckLoopback accepts host:port when the host is localhost or a loopback IP
// literal, and unix:/path; other hosts are refused rather than resolved.
func CheckLoopback(addr string) error { return checkLoopback(addr) }

// ChatRequestBody is the chat request extproc-load sends (a system message, a
// user prompt of promptBytes, max_tokens, temperature, stream), so that HTTP
// load runs send the same body.
func ChatRequestBody(model string, promptBytes, maxTokens int, stream bool) ([]byte, error) {
	return requestBody(model, promptBytes, maxTokens, stream)
}
