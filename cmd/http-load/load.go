package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-gateway/gateway/pkg/loadgen"
)

// loader is one run's shared, read-only state.
type loader struct {
	o      options
	body   []byte
	client *http.Client
}

// tally is one worker's measurements; workers never share one, so recording
// takes no lock, and the run merges them at the end.
type tally struct {
	latency   *loadgen.Histogram // whole request, completed ones only
	headers   *loadgen.Histogram // until the response headers
	firstByte *loadgen.Histogram // until the first body byte (SSE: first event)
	requests  int64
	completed int64
	cancelled int64
	events    int64
	// completedEvents are the events of completed streams only.
	completedEvents int64
	status          map[int]int64
	errors          map[string]int64
}

func newTally() *tally {
	return &tally{latency: loadgen.NewHistogram(), headers: loadgen.NewHistogram(), firstByte: loadgen.NewHistogram(),
		status: map[int]int64{}, errors: map[string]int64{}}
}

func (t *tally) merge(o *tally) {
	t.latency.Merge(o.latency)
	t.headers.Merge(o.headers)
	t.firstByte.Merge(o.firstByte)
	t.requests += o.requests
	t.completed += o.completed
	t.cancelled += o.cancelled
	t.events += o.events
	t.completedEvents += o.completedEvents
	for k, v := range o.status {
		t.status[k] += v
	}
	for k, v := range o.errors {
		t.errors[k] += v
	}
}

// run plays the load and reports it; when ctx ends early the partial report
// comes back with the context's error.
func run(ctx context.Context, o options) (report, error) {
	body, err := loadgen.ChatRequestBody(o.model, o.promptBytes, o.chunks, o.stream)
	if err != nil {
		return report{}, err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy from the environment
		DialContext:         dialer.DialContext,
		MaxIdleConns:        o.concurrency,
		MaxIdleConnsPerHost: o.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	l := &loader{o: o, body: body, client: &http.Client{Transport: tr}}

	before := l.sampleCPU()
	start := time.Now()
	t, missed := l.execute(ctx)
	wall := time.Since(start)
	after := l.sampleCPU()
	return l.report(t, missed, wall, before, after), ctx.Err()
}

// execute starts the workers and waits for them; the duration bound only stops
// new requests, those in flight finish within -timeout.
func (l *loader) execute(ctx context.Context) (*tally, int64) {
	schedCtx, cancel := context.WithTimeout(ctx, l.o.duration)
	defer cancel()
	var missed atomic.Int64
	next := loadgen.ClosedLoop(schedCtx, l.o.requests)
	if l.o.rate > 0 {
		next = loadgen.OpenLoop(schedCtx, l.o.rate, l.o.requests, l.o.duration, time.Now, &missed)
	}
	tallies := make([]*tally, l.o.concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		tallies[i] = newTally()
		wg.Go(func() {
			br := bufio.NewReaderSize(nil, 32<<10)
			for {
				n, ok := next()
				if !ok || ctx.Err() != nil {
					return
				}
				l.one(ctx, tallies[i], br, n)
			}
		})
	}
	wg.Wait()
	total := newTally()
	for _, t := range tallies {
		total.merge(t)
	}
	return total, missed.Load()
}

func (l *loader) abandons(n uint64) bool {
	f := l.o.cancelFraction
	return l.o.stream && f > 0 && math.Floor(float64(n+1)*f) > math.Floor(float64(n)*f)
}

const (
	dataPrefix = "data: "
	doneEvent  = "data: [DONE]"
)

// one sends request n and reads its whole response.
func (l *loader) one(parent context.Context, t *tally, br *bufio.Reader, n uint64) {
	t.requests++
	ctx, cancel := context.WithTimeout(parent, l.o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.o.url, bytes.NewReader(l.body))
	if err != nil {
		t.errors["request"]++
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "http-load")
	if l.o.key != "" {
		req.Header.Set("Authorization", "Bearer "+l.o.key)
	}
	for _, kv := range l.o.headers {
		req.Header.Add(kv[0], kv[1])
	}
	start := time.Now()
	resp, err := l.client.Do(req)
	if err != nil {
		t.errors[errKind(ctx, err, "connect")]++
		return
	}
	defer resp.Body.Close()
	t.headers.Record(time.Since(start))
	t.status[resp.StatusCode]++
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	br.Reset(resp.Body)
	if !ok || !l.o.stream {
		if _, err := br.Peek(1); err == nil {
			t.firstByte.Record(time.Since(start))
		}
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.errors[errKind(ctx, err, "read")]++
			return
		}
		if ok {
			t.completed++
			t.latency.Record(time.Since(start))
		}
		return
	}
	abandon := l.abandons(n)
	first, done, events := true, false, 0
	for {
		line, err := br.ReadSlice('\n')
		if first && len(line) > 0 {
			first = false
			t.firstByte.Record(time.Since(start))
		}
		switch {
		case bytes.HasPrefix(line, []byte(doneEvent)):
			done = true
		case bytes.HasPrefix(line, []byte(dataPrefix)):
			events++
			if abandon && events >= l.o.cancelAfter {
				// The client goes away: the connection is closed under the
				// response, as a closed browser tab or a killed SDK call does.
				cancel()
				t.events += int64(events)
				t.cancelled++
				return
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.events += int64(events)
			t.errors[errKind(ctx, err, "read")]++
			return
		}
	}
	t.events += int64(events)
	if !done {
		t.errors["incomplete_stream"]++
		return
	}
	t.completed++
	t.completedEvents += int64(events)
	t.latency.Record(time.Since(start))
}

// errKind names a failure: the per-request timeout, an interrupted run, or
// the phase it happened in.
func errKind(ctx context.Context, err error, phase string) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case ctx.Err() != nil:
		return "interrupted"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return phase
}

// cpuSample is the CPU time of every -pid process, in pid order; a process
// that cannot be read (it exited) has a negative entry.
func (l *loader) sampleCPU() []time.Duration {
	out := make([]time.Duration, len(l.o.pids))
	for i, p := range l.o.pids {
		d, err := loadgen.ProcessCPU(p.pid)
		if err != nil {
			d = -1
		}
		out[i] = d
	}
	return out
}

func (l *loader) report(t *tally, missed int64, wall time.Duration, before, after []time.Duration) report {
	r := report{
		Label: l.o.label, URL: l.o.url, Stream: l.o.stream, Chunks: l.o.chunks, Concurrency: l.o.concurrency,
		Rate: l.o.rate, WallSeconds: wall.Seconds(), Requests: t.requests, Completed: t.completed,
		Cancelled: t.cancelled, Status: t.status, Errors: t.errors, Missed: missed, Events: t.events,
		Latency: t.latency.Summary(), Headers: t.headers.Summary(), FirstByte: t.firstByte.Summary(),
	}
	if wall > 0 {
		r.RequestsPerSecond = float64(t.requests) / wall.Seconds()
	}
	if t.completed > 0 && l.o.stream {
		r.EventsPerRequest = float64(t.completedEvents) / float64(t.completed)
	}
	for i, p := range l.o.pids {
		c := processCPU{Name: p.name, PID: p.pid}
		if before[i] < 0 || after[i] < 0 {
			c.Error = fmt.Sprintf("cannot read /proc/%d/stat", p.pid)
		} else {
			d := after[i] - before[i]
			c.Seconds = d.Seconds()
			if wall > 0 {
				c.Cores = d.Seconds() / wall.Seconds()
			}
			if t.requests > 0 {
				c.PerRequestMicro = float64(d.Microseconds()) / float64(t.requests)
			}
		}
		r.CPU = append(r.CPU, c)
	}
	return r
}
