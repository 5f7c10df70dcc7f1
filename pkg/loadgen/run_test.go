package loadgen

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llm-gateway/gateway/pkg/loadgen/trivial"
)

func TestRunAgainstTrivialServerCountsExactly(t *testing.T) {
	addr := startServer(t, trivial.New())
	tests := []struct {
		name       string
		stream     bool
		rate       float64
		wantChunks int64
		wantPhases map[string]int64
	}{
		{name: "json", wantPhases: map[string]int64{"request_headers": 300, "request_body": 300, "response_headers": 300, "response_body": 300}},
		{name: "sse", stream: true, wantChunks: 300 * 20,
			wantPhases: map[string]int64{"request_headers": 300, "request_body": 300, "response_headers": 300, "response_chunk": 300 * 22}},
		{name: "sse open loop", stream: true, rate: 3000, wantChunks: 300 * 20,
			wantPhases: map[string]int64{"request_headers": 300, "request_body": 300, "response_headers": 300, "response_chunk": 300 * 22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Run(t.Context(), Options{Addr: addr, Requests: 300, Duration: time.Minute, Concurrency: 8,
				Stream: tt.stream, Chunks: 20, Pipeline: 4, Rate: tt.rate, ServerPID: os.Getpid()})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 300 || rep.Completed != 300 || len(rep.Errors) != 0 || len(rep.Immediate) != 0 {
				t.Fatalf("requests %d completed %d errors %v immediate %v, want 300 clean", rep.Requests, rep.Completed, rep.Errors, rep.Immediate)
			}
			if rep.ChunksSent != tt.wantChunks {
				t.Errorf("chunks %d, want %d", rep.ChunksSent, tt.wantChunks)
			}
			if tt.stream && rep.StreamedResponses != 300 {
				t.Errorf("streamed %d, want 300", rep.StreamedResponses)
			}
			checkPhases(t, rep, tt.wantPhases)
			if rep.Request.Count != 300 {
				t.Errorf("request latency count %d", rep.Request.Count)
			}
			if rep.ServerCPU == nil || rep.ServerCPU.Seconds <= 0 || rep.ServerCPU.PerRequestMicro <= 0 {
				t.Errorf("server CPU not measured: %+v", rep.ServerCPU)
			}
			if tt.stream && rep.ServerCPU.PerChunkMicro <= 0 {
				t.Errorf("no CPU per chunk: %+v", rep.ServerCPU)
			}
		})
	}
}

// checkPhases wants exactly these phases with these counts and monotone
// percentiles everywhere.
func checkPhases(t *testing.T, rep Report, want map[string]int64) {
	t.Helper()
	if len(rep.Phases) != len(want) {
		t.Errorf("phases %v, want %v", keys(rep.Phases), want)
	}
	for name, n := range want {
		l, ok := rep.Phases[name]
		if !ok || l.Count != n {
			t.Errorf("phase %s count %d, want %d", name, l.Count, n)
		}
		checkMonotone(t, name, l)
	}
	checkMonotone(t, "request", rep.Request)
}

func checkMonotone(t *testing.T, name string, l Latency) {
	t.Helper()
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean <= l.Max) {
		t.Errorf("%s percentiles not monotone: %+v", name, l)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRunAccountsImmediateResponsesAndErrors(t *testing.T) {
	every3rd := func(match func(*extprocv3.ProcessingRequest, int) bool, answer func() (*extprocv3.ProcessingResponse, error)) hook {
		return func(stream int64, msg int, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
			if stream%3 == 0 && match(req, msg) {
				return answer()
			}
			return nil, nil
		}
	}
	onHeaders := func(req *extprocv3.ProcessingRequest, _ int) bool {
		return isKind[*extprocv3.ProcessingRequest_RequestHeaders](req)
	}
	onBody := func(req *extprocv3.ProcessingRequest, _ int) bool {
		return isKind[*extprocv3.ProcessingRequest_RequestBody](req)
	}
	// Message 3 + 5 is the sixth response chunk: headers, body, headers, then chunks.
	midStream := func(_ *extprocv3.ProcessingRequest, msg int) bool { return msg == 3+5 }
	// wantReqBodies counts request-body answers received, of any kind.
	tests := []struct {
		name          string
		hook          hook
		wantImmediate map[int]int64
		wantErrors    map[string]int64
		wantChunks    int64
		wantReqBodies int64
	}{
		{name: "429 on request headers", hook: every3rd(onHeaders, func() (*extprocv3.ProcessingResponse, error) { return immediateResponse(429), nil }),
			wantImmediate: map[int]int64{429: 100}, wantChunks: 200 * 20, wantReqBodies: 200},
		{name: "413 on request body", hook: every3rd(onBody, func() (*extprocv3.ProcessingResponse, error) { return immediateResponse(413), nil }),
			wantImmediate: map[int]int64{413: 100}, wantChunks: 200 * 20, wantReqBodies: 300},
		{name: "500 mid-stream", hook: every3rd(midStream, func() (*extprocv3.ProcessingResponse, error) { return immediateResponse(500), nil }),
			wantImmediate: map[int]int64{500: 100}, wantChunks: 200*20 + 100*6, wantReqBodies: 300},
		{name: "grpc error", hook: every3rd(onBody, func() (*extprocv3.ProcessingResponse, error) { return nil, status.Error(codes.Unavailable, "down") }),
			wantErrors: map[string]int64{"grpc_Unavailable": 100}, wantChunks: 200 * 20, wantReqBodies: 200},
		{name: "stream ended early", hook: every3rd(onBody, func() (*extprocv3.ProcessingResponse, error) { return nil, errEndOK }),
			wantErrors: map[string]int64{"closed_early": 100}, wantChunks: 200 * 20, wantReqBodies: 200},
		{name: "spurious answer", hook: every3rd(onBody, func() (*extprocv3.ProcessingResponse, error) {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{}}, nil
		}), wantErrors: map[string]int64{"spurious_answer": 100}, wantChunks: 200 * 20, wantReqBodies: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, srv := startFake(t, tt.hook)
			rep, err := Run(t.Context(), Options{Addr: addr, Requests: 300, Duration: time.Minute,
				Concurrency: 6, Stream: true, Chunks: 20, Pipeline: 3})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests != 300 || rep.Completed != 200 || srv.streams.Load() != 300 {
				t.Fatalf("requests %d completed %d streams %d, want 300/200/300", rep.Requests, rep.Completed, srv.streams.Load())
			}
			if !equalMaps(rep.Immediate, tt.wantImmediate) || !equalMaps(rep.Errors, tt.wantErrors) {
				t.Errorf("immediate %v errors %v, want %v %v", rep.Immediate, rep.Errors, tt.wantImmediate, tt.wantErrors)
			}
			if rep.ChunksSent != tt.wantChunks {
				t.Errorf("chunks %d, want %d", rep.ChunksSent, tt.wantChunks)
			}
			if got := rep.Phases["request_body"].Count; got != tt.wantReqBodies {
				t.Errorf("request bodies answered %d, want %d", got, tt.wantReqBodies)
			}
		})
	}
}

func equalMaps[K comparable](got, want map[K]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestRunSendsSSEBufferedWithoutModeOverride(t *testing.T) {
	noOverride := func(_ int64, _ int, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if isKind[*extprocv3.ProcessingRequest_ResponseHeaders](req) {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
				ResponseHeaders: &extprocv3.HeadersResponse{}}}, nil
		}
		if b := req.GetResponseBody(); b != nil && (!b.GetEndOfStream() || !strings.HasSuffix(string(b.GetBody()), "data: [DONE]\n\n")) {
			return nil, status.Error(codes.InvalidArgument, "response body not buffered whole")
		}
		return nil, nil
	}
	addr, _ := startFake(t, noOverride)
	rep, err := Run(t.Context(), Options{Addr: addr, Requests: 50, Duration: time.Minute, Concurrency: 4, Stream: true, Chunks: 30})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 50 || len(rep.Errors) != 0 || rep.StreamedResponses != 0 || rep.ChunksSent != 50*30 {
		t.Fatalf("completed %d errors %v streamed %d chunks %d", rep.Completed, rep.Errors, rep.StreamedResponses, rep.ChunksSent)
	}
	checkPhases(t, rep, map[string]int64{"request_headers": 50, "request_body": 50, "response_headers": 50, "response_body": 50})
}

func TestRunStopsAtDurationBound(t *testing.T) {
	addr := startServer(t, trivial.New())
	tests := []struct {
		name string
		rate float64
	}{{"closed loop", 0}, {"open loop", 100}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const bound = 300 * time.Millisecond
			start := time.Now()
			rep, err := Run(t.Context(), Options{Addr: addr, Requests: MaxRequests, Duration: bound, Concurrency: 4, Rate: tt.rate})
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < bound || el > bound+2*time.Second {
				t.Errorf("run took %s with a %s bound", el, bound)
			}
			if rep.Requests == 0 || rep.Requests >= MaxRequests || rep.Completed != rep.Requests {
				t.Errorf("requests %d completed %d", rep.Requests, rep.Completed)
			}
			// 100/s for 300 ms: at most the 30 slots at 0, 10, ... 290 ms, fewer
			// when the scheduler itself is starved past the bound.
			if tt.rate > 0 && rep.Requests+rep.Missed > 30 {
				t.Errorf("open loop made %d requests and missed %d in %s at %g/s", rep.Requests, rep.Missed, bound, tt.rate)
			}
		})
	}
}

func TestOpenLoopCountsMissedSlots(t *testing.T) {
	// One worker, requests of 4 answers at 10 ms each, a slot every 10 ms: most slots find
	// the worker busy.
	slow := func(int64, int, *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		time.Sleep(10 * time.Millisecond)
		return nil, nil
	}
	addr, _ := startFake(t, slow)
	rep, err := Run(t.Context(), Options{Addr: addr, Requests: 1000, Duration: 400 * time.Millisecond,
		Rate: 100, Concurrency: 1, Connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Missed == 0 || rep.Requests == 0 || rep.Requests+rep.Missed > 40 || rep.Completed != rep.Requests {
		t.Fatalf("requests %d missed %d completed %d", rep.Requests, rep.Missed, rep.Completed)
	}
}

// TestRequestTimeoutIsNotAnEarlyClose: a stream the load tool abandons at its
// own request timeout counts as a deadline, never as the server closing early.
func TestRequestTimeoutIsNotAnEarlyClose(t *testing.T) {
	// Stall from the response body on: mid-stream, with sends in flight.
	stall := func(_ int64, i int, _ *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
		if i >= 3 {
			time.Sleep(200 * time.Millisecond)
		}
		return nil, nil
	}
	addr, _ := startFake(t, stall)
	for _, stream := range []bool{false, true} {
		rep, err := Run(t.Context(), Options{Addr: addr, Requests: 20, Concurrency: 4, Connections: 1,
			Stream: stream, Chunks: 500, RequestTimeout: 30 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Errors["closed_early"] != 0 || rep.Errors["grpc_DeadlineExceeded"] != 20 {
			t.Errorf("stream %v: errors %v, want all 20 as grpc_DeadlineExceeded", stream, rep.Errors)
		}
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	addr := startServer(t, trivial.New())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, Options{Addr: addr, Requests: MaxRequests, Duration: time.Minute, Concurrency: 4})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if rep.Requests == 0 {
		t.Error("partial report is empty")
	}
}

func TestRunRefusesBadTargets(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"remote", Options{Addr: "10.1.2.3:50051"}, ErrRemoteTarget},
		{"remote name", Options{Addr: "gateway.example.com:50051"}, ErrRemoteTarget},
		{"nothing listening", Options{Addr: "127.0.0.1:1", DialTimeout: 300 * time.Millisecond}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// BenchmarkRequest measures one whole request against the in-process trivial
// server: the load tool's and the floor server's costs together.
func BenchmarkRequest(b *testing.B) {
	addr := startServer(b, trivial.New())
	for _, stream := range []bool{false, true} {
		name := "json"
		if stream {
			name = "sse-100"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			rep, err := Run(b.Context(), Options{Addr: addr, Requests: b.N, Duration: MaxDuration, Concurrency: 8, Stream: stream})
			if err != nil || rep.Completed != int64(b.N) {
				b.Fatalf("completed %d of %d: %v %v", rep.Completed, b.N, err, rep.Errors)
			}
		})
	}
}
