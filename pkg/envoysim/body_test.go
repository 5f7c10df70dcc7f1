package envoysim

import (
	"io"
	"net/http"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
)

func TestBufferedRequestBodyMutation(t *testing.T) {
	route := setHeaders("x-gateway-cluster", "mock")
	withCL := setHeaders("x-gateway-cluster", "mock", "content-length", "3")
	noCL := &extprocv3.HeaderMutation{SetHeaders: route.SetHeaders, RemoveHeaders: []string{"content-length"}}
	clear := &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}}
	tests := []struct {
		name       string
		hm         *extprocv3.HeaderMutation
		bm         *extprocv3.BodyMutation
		wantStatus int
		wantBody   string // what the upstream receives
	}{
		{"matching content-length", withCL, replaceBody("NEW"), 200, "NEW"},
		{"stale content-length is an error", route, replaceBody("NEW"), 500, ""},
		{"content-length removed", noCL, replaceBody("NEW"), 200, "NEW"},
		{"clear_body with content-length is an error", route, clear, 500, ""},
		{"no body mutation", route, nil, 200, `{"a":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
				if req.GetRequestBody() != nil {
					return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
						HeaderMutation: tc.hm, BodyMutation: tc.bm, ClearRouteCache: true})}}
				}
				return passThrough(i, req)
			}})
			resp, _ := h.post("/v1/chat/completions", `{"a":1}`)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus != 200 {
				if h.hits() != 0 {
					t.Error("upstream called despite the error")
				}
				if !strings.Contains(h.access.String(), "ext_proc_error_") {
					t.Errorf("access log lacks the ext_proc error details: %s", h.access.String())
				}
				return
			}
			if got := h.ups[0].last(t).body; got != tc.wantBody {
				t.Errorf("upstream body %q, want %q", got, tc.wantBody)
			}
		})
	}
}

func TestRequestOverBufferLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{edits: [][2]string{{"per_connection_buffer_limit_bytes: 8388608", "per_connection_buffer_limit_bytes: 1024"}}})
	resp, body := h.post("/v1/chat/completions", strings.Repeat("x", 2000))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "Payload Too Large" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if h.hits() != 0 {
		t.Error("upstream called for an oversized body")
	}
	// The connection manager's 413 still passes through ext_proc's encoder side.
	reqs := h.proc.nextStream(t).requests()
	if diff := cmp.Diff([]string{"request_headers", "response_headers", "response_body"}, kinds(reqs)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if got := h.proxy.Counter("http.llm_gateway.downstream_rq_too_large"); got != 1 {
		t.Errorf("downstream_rq_too_large = %d", got)
	}
}

func TestContinueAndReplaceAtRequestHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
				Status:         extprocv3.CommonResponse_CONTINUE_AND_REPLACE,
				HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true,
				BodyMutation: replaceBody("replaced"),
			})}}
		}
		return passThrough(i, req)
	}})
	resp, _ := h.post("/v1/chat/completions", "original")
	if resp.StatusCode != 200 || h.ups[0].last(t).body != "replaced" {
		t.Fatalf("status %d upstream body %q", resp.StatusCode, h.ups[0].last(t).body)
	}
	for _, r := range h.proc.nextStream(t).requests() {
		if r.GetRequestBody() != nil {
			t.Error("request body sent after CONTINUE_AND_REPLACE")
		}
	}
}

func TestStreamedRequestBody(t *testing.T) {
	h := newHarness(t, harnessOpts{
		edits: [][2]string{{"request_body_mode: BUFFERED", "request_body_mode: STREAMED"}},
		script: func(i int, req *extprocv3.ProcessingRequest) step {
			switch {
			case req.GetRequestHeaders() != nil:
				// Streamed bodies cannot carry routing headers: route at headers.
				return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
					HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true})}}
			case req.GetRequestBody() != nil:
				return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
					BodyMutation: replaceBody(strings.ToUpper(string(req.GetRequestBody().GetBody())))})}}
			}
			return passThrough(i, req)
		},
	})
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "hello ")
		_, _ = io.WriteString(pw, "world")
		_ = pw.Close()
	}()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.base+"/v1/chat/completions", pr)
	resp, _ := h.do(req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	up := h.ups[0].last(t)
	if up.body != "HELLO WORLD" {
		t.Errorf("upstream body %q", up.body)
	}
	var chunks []*extprocv3.HttpBody
	for _, r := range h.proc.nextStream(t).requests() {
		if b := r.GetRequestBody(); b != nil {
			chunks = append(chunks, b)
		}
	}
	if len(chunks) == 0 || !chunks[len(chunks)-1].GetEndOfStream() {
		t.Fatalf("want body chunks ending with end_of_stream, got %v", chunks)
	}
	var sent strings.Builder
	for _, c := range chunks {
		sent.Write(c.GetBody())
	}
	if sent.String() != "hello world" {
		t.Errorf("chunks carried %q", sent.String())
	}
}

func TestResponseOverBufferLimit(t *testing.T) {
	big := strings.Repeat("y", 2000)
	h := newHarness(t, harnessOpts{
		edits: [][2]string{{"per_connection_buffer_limit_bytes: 8388608", "per_connection_buffer_limit_bytes: 1024"}},
		upstream: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, big)
		},
	})
	resp, body := h.post("/v1/chat/completions", "{}")
	if resp.StatusCode != http.StatusInternalServerError || body != "Internal Server Error" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if got := h.proxy.Counter("http.llm_gateway.rs_too_large"); got != 1 {
		t.Errorf("rs_too_large = %d", got)
	}
}

func TestBufferedPartialRequestBody(t *testing.T) {
	body := strings.Repeat("a", 1500)
	h := newHarness(t, harnessOpts{
		edits: [][2]string{
			{"per_connection_buffer_limit_bytes: 8388608", "per_connection_buffer_limit_bytes: 1024"},
			{"request_body_mode: BUFFERED", "request_body_mode: BUFFERED_PARTIAL"},
		},
		// A short answer: the echo would exceed the small limit on the way back.
		upstream: func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") },
		script: func(i int, req *extprocv3.ProcessingRequest) step {
			if b := req.GetRequestBody(); b != nil {
				return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
					HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true,
					BodyMutation: replaceBody(strings.ToUpper(string(b.GetBody()))),
				})}}
			}
			return passThrough(i, req)
		},
	})
	resp, _ := h.post("/v1/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, h.access.String())
	}
	if got, want := h.ups[0].last(t).body, strings.Repeat("A", 1024)+strings.Repeat("a", 476); got != want {
		t.Errorf("upstream body: %d bytes, want the first 1024 processed and the rest as sent", len(got))
	}
	for _, r := range h.proc.nextStream(t).requests() {
		if b := r.GetRequestBody(); b != nil && (len(b.GetBody()) != 1024 || b.GetEndOfStream()) {
			t.Errorf("partial body message: %d bytes, end_of_stream %v", len(b.GetBody()), b.GetEndOfStream())
		}
	}
}
