package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-gateway/gateway/pkg/config"
)

// memStreams is how many streams BenchmarkMemoryPerOpenStream holds open at once.
const memStreams = 64

// memPipeline bounds the chunks sent and not yet answered on one stream, as
// Envoy pipelines STREAMED bodies.
const memPipeline = 16

// memConfig is testConfig with the output guardrail of config/gateway.local.yaml
// (banned words, redact), so every chunk goes through the response filter the
// way it does in production.
func memConfig(b *testing.B) *config.Config {
	b.Helper()
	cfg := testConfig(b)
	cfg.Guardrails.BannedWords = []string{"forbidden-demo-word", "zorblax"}
	cfg.Guardrails.OutputAction = "redact"
	return cfg
}

// memChunk is one OpenAI SSE event of about 200 bytes, token i of a reply.
func memChunk(i int) *extprocv3.ProcessingRequest {
	words := [...]string{" the", " gateway", " streams", " every", " token", " it", " sees", " onward"}
	return respBody(`data: {"id":"chatcmpl-mem","object":"chat.completion.chunk","created":1741569952,`+
		`"model":"upstream-model","system_fingerprint":"fp_06737a9306","choices":[{"index":0,`+
		`"delta":{"content":"`+words[i%len(words)]+`"},"logprobs":null,"finish_reason":null}]}`+"\n\n", false)
}

// heapSample is the heap after a full collection.
type heapSample struct {
	inuse, alloc, stack uint64
	goroutines          int
}

func sampleHeap() heapSample {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return heapSample{inuse: ms.HeapInuse, alloc: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// BenchmarkMemoryPerOpenStream measures what one in-flight streamed response
// costs in memory: memStreams streams are opened and each driven through
// request headers, request body (stream: true), response headers (SSE, which
// switches the body to STREAMED) and M response chunks, then held open
// (no end_of_stream) while the heap is measured after a GC. The sidecar must
// not keep anything proportional to the chunks already relayed, so B/stream
// should be the same for M = 10 and M = 2000.
//
// Metrics per stream, each the difference to the heap before the streams were
// opened: B/stream (runtime HeapInuse, whole spans), live-B/stream (HeapAlloc,
// live objects), stack-B/stream (goroutine stacks, StackInuse),
// goroutines/stream, and retained-B/stream (HeapAlloc after every stream was
// closed and answered: a leak shows here). The gRPC client side of the
// streams lives in the same process, so the numbers include the client's
// per-stream state (and one of the two goroutines a stream has): an upper
// bound for the sidecar alone. Run with -benchtime 3x: each iteration is one
// full measurement.
func BenchmarkMemoryPerOpenStream(b *testing.B) {
	for _, m := range []int{10, 2000} {
		b.Run(fmt.Sprintf("chunks=%d", m), func(b *testing.B) {
			c := startServer(b, memConfig(b))
			// One untimed round first: lazily built state (pools, metric
			// series, the first connection's buffers) is not per stream.
			closeStreams(b, openStreams(b, c, memStreams, m))
			var inuse, alloc, stack, retained float64
			var goroutines int
			n := 0
			for b.Loop() {
				before := sampleHeap()
				streams := openStreams(b, c, memStreams, m)
				open := sampleHeap()
				closeStreams(b, streams)
				after := sampleHeap()
				inuse += float64(int64(open.inuse) - int64(before.inuse))
				alloc += float64(int64(open.alloc) - int64(before.alloc))
				stack += float64(int64(open.stack) - int64(before.stack))
				retained += float64(int64(after.alloc) - int64(before.alloc))
				goroutines += open.goroutines - before.goroutines
				n++
			}
			per := float64(n * memStreams)
			b.ReportMetric(inuse/per, "B/stream")
			b.ReportMetric(alloc/per, "live-B/stream")
			b.ReportMetric(stack/per, "stack-B/stream")
			b.ReportMetric(retained/per, "retained-B/stream")
			b.ReportMetric(float64(goroutines)/per, "goroutines/stream")
		})
	}
}

// openStreams opens k streams concurrently and drives each through m
// response chunks; the streams stay open.
func openStreams(b *testing.B, c extprocv3.ExternalProcessorClient, k, m int) []extprocv3.ExternalProcessor_ProcessClient {
	b.Helper()
	streams := make([]extprocv3.ExternalProcessor_ProcessClient, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() { streams[i], errs[i] = driveStream(c, m) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return streams
}

// driveStream plays one streamed chat request up to its m-th response chunk.
func driveStream(c extprocv3.ExternalProcessorClient, m int) (extprocv3.ExternalProcessor_ProcessClient, error) {
	s, err := c.Process(context.Background())
	if err != nil {
		return nil, err
	}
	roundTrip := func(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if err := s.Send(req); err != nil {
			return nil, err
		}
		return s.Recv()
	}
	if _, err := roundTrip(chatHeaders(testKey)); err != nil {
		return nil, fmt.Errorf("request headers: %w", err)
	}
	resp, err := roundTrip(reqBody(`{"model":"gpt-test","stream":true,"max_tokens":4096,"messages":[{"role":"user","content":"` + benchPrompt + `"}]}`))
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	if ir := resp.GetImmediateResponse(); ir != nil {
		return nil, fmt.Errorf("request body answered %d: %s", ir.GetStatus().GetCode(), ir.GetBody())
	}
	resp, err = roundTrip(respHeaders(false, ":status", "200", "content-type", "text/event-stream; charset=utf-8"))
	if err != nil {
		return nil, fmt.Errorf("response headers: %w", err)
	}
	if resp.GetModeOverride().GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED {
		return nil, fmt.Errorf("response body not switched to STREAMED: %v", resp.GetModeOverride())
	}
	sent := 0
	for done := 0; done < m; done++ {
		for ; sent < m && sent-done < memPipeline; sent++ {
			if err := s.Send(memChunk(sent)); err != nil {
				return nil, fmt.Errorf("chunk %d: %w", sent, err)
			}
		}
		r, err := s.Recv()
		if err != nil {
			return nil, fmt.Errorf("chunk %d answer: %w", done, err)
		}
		if r.GetResponseBody() == nil {
			return nil, fmt.Errorf("chunk %d answered with %T", done, r.GetResponse())
		}
	}
	return s, nil
}

// closeStreams ends every stream the way Envoy does at the end of a response
// (a last chunk with end_of_stream, then half-close) and waits for the server
// to finish each one.
func closeStreams(b *testing.B, streams []extprocv3.ExternalProcessor_ProcessClient) {
	b.Helper()
	errs := make([]error, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			if err := s.Send(respBody("data: [DONE]\n\n", true)); err != nil {
				errs[i] = err
				return
			}
			if err := s.CloseSend(); err != nil {
				errs[i] = err
				return
			}
			for {
				if _, err := s.Recv(); err != nil {
					if !errors.Is(err, io.EOF) {
						errs[i] = err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
}
