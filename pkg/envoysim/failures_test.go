package envoysim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
)

func TestImmediateResponse(t *testing.T) {
	tests := []struct {
		name       string
		at         string
		code       int
		wantStatus int
	}{
		{"at request headers", "request_headers", 401, 401},
		{"at request body", "request_body", 429, 429},
		{"at response headers", "response_headers", 502, 502},
		{"status below 200 becomes 200", "request_headers", 100, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
				if kindOf(req) == tc.at {
					return step{answers: []*extprocv3.ProcessingResponse{immediate(tc.code, `{"error":"no"}`,
						setHeaders("content-type", "application/json", "x-why", "test"))}}
				}
				return routeTo("mock")(i, req)
			}})
			resp, body := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != tc.wantStatus || body != `{"error":"no"}` ||
				resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Why") != "test" {
				t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
			}
			wantHits := int32(0)
			if tc.at == "response_headers" {
				wantHits = 1
			}
			if h.hits() != wantHits {
				t.Errorf("upstream hits %d, want %d", h.hits(), wantHits)
			}
			if !strings.Contains(h.access.String(), "denied_by_test") {
				t.Errorf("details missing from access log: %s", h.access.String())
			}
		})
	}
}

func TestMessageTimeout(t *testing.T) {
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestBody() != nil {
			return step{wait: 5 * time.Second, answers: []*extprocv3.ProcessingResponse{continueFor(req, nil)}}
		}
		return passThrough(i, req)
	}})
	start := time.Now()
	resp, _ := h.post("/v1/chat/completions", "{}")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	if d := time.Since(start); d < testMessageTimeout || d > 3*time.Second {
		t.Errorf("answered after %v, want about the %v message timeout", d, testMessageTimeout)
	}
	if h.hits() != 0 || h.proxy.Counter("http.llm_gateway.ext_proc.message_timeouts") != 1 {
		t.Errorf("hits %d, message_timeouts %d", h.hits(), h.proxy.Counter("http.llm_gateway.ext_proc.message_timeouts"))
	}
}

func TestStreamFailures(t *testing.T) {
	allow := [2]string{"failure_mode_allow: false", "failure_mode_allow: true"}
	spurious := func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			// A body answer to a headers message.
			return step{answers: []*extprocv3.ProcessingResponse{{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}}}
		}
		return passThrough(i, req)
	}
	grpcError := func(int, *extprocv3.ProcessingRequest) step { return step{end: grpcErr(codes.Unavailable)} }
	closeOK := func(i int, req *extprocv3.ProcessingRequest) step {
		return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, nil)}, end: errCloseOK}
	}
	tests := []struct {
		name       string
		edits      [][2]string
		script     script
		procDown   bool
		wantStatus int
		counter    string
	}{
		{"processor down fails closed", nil, passThrough, true, 500, "streams_failed"},
		{"processor down with failure_mode_allow", [][2]string{allow}, passThrough, true, 200, "failure_mode_allowed"},
		{"spurious answer fails closed", nil, spurious, false, 500, "spurious_msgs_received"},
		{"spurious answer with failure_mode_allow", [][2]string{allow}, spurious, false, 200, "spurious_msgs_received"},
		{"gRPC error status fails closed", nil, grpcError, false, 500, "streams_failed"},
		{"server closes with OK: Envoy carries on", nil, closeOK, false, 200, "stream_msgs_received"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{edits: tc.edits, script: tc.script, procDown: tc.procDown})
			// The client names the cluster itself so that a request continuing
			// without ext_proc can be routed.
			resp, body := h.post("/v1/chat/completions", "{}", "X-Gateway-Cluster", "mock")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if want := int32(map[bool]int32{true: 1, false: 0}[tc.wantStatus == 200]); h.hits() != want {
				t.Errorf("upstream hits %d, want %d", h.hits(), want)
			}
			if tc.wantStatus == 200 && body != "upstream:{}" {
				t.Errorf("body %q: continuing without ext_proc must leave it unmodified", body)
			}
			if h.proxy.Counter("http.llm_gateway.ext_proc."+tc.counter) == 0 {
				t.Errorf("counter %s not incremented: %v", tc.counter, h.proxy.Counters())
			}
		})
	}
}

func TestServerClosedStreamIsNotUsedAgain(t *testing.T) {
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, nil)}, end: errCloseOK}
	}})
	resp, _ := h.post("/v1/chat/completions", "{}", "X-Gateway-Cluster", "mock")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if diff := cmp.Diff([]string{"request_headers"}, kinds(h.proc.nextStream(t).requests())); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

func TestClientDisconnectCancelsProcessorStream(t *testing.T) {
	tests := []struct {
		name string
		// midBody keeps the request body open, so that the disconnect
		// breaks it off.
		midBody bool
	}{
		{"after the body", false},
		{"in the middle of the body", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A long message timeout, so that only the disconnect can end the stream.
			h := newHarness(t, harnessOpts{messageTimeout: time.Minute, script: func(i int, req *extprocv3.ProcessingRequest) step {
				if req.GetRequestHeaders() != nil {
					return step{wait: 30 * time.Second, answers: []*extprocv3.ProcessingResponse{continueFor(req, nil)}}
				}
				return passThrough(i, req)
			}})
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				var body io.Reader = strings.NewReader(`{"stream":true}`)
				if tc.midBody {
					pr, pw := io.Pipe()
					go func() {
						_, _ = io.WriteString(pw, `{"stream":`)
						<-ctx.Done() // net/http waits for its body writer
						_ = pw.CloseWithError(ctx.Err())
					}()
					body = pr
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/chat/completions", body)
				resp, err := h.client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			log := h.proc.nextStream(t)
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("client error %v", err)
			}
			log.waitDone(t)
			log.mu.Lock()
			defer log.mu.Unlock()
			if !errors.Is(log.ctxErr, context.Canceled) {
				t.Errorf("processor stream context error = %v, want canceled", log.ctxErr)
			}
			if h.hits() != 0 {
				t.Error("upstream called for an abandoned request")
			}
		})
	}
}

func TestNormalEndHalfClosesThenResets(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	if resp, _ := h.post("/v1/chat/completions", "{}"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	log := h.proc.nextStream(t)
	log.waitDone(t)
	log.mu.Lock()
	defer log.mu.Unlock()
	// Envoy's stream close is closeStream() then resetStream(): the server
	// reads EOF and its context is cancelled.
	if log.recvErr == nil || !errors.Is(log.ctxErr, context.Canceled) {
		t.Errorf("recv error %v, context error %v", log.recvErr, log.ctxErr)
	}
}
