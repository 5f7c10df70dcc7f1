package envoysim

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestReachesProcessorLikeEnvoySendsIt(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	resp, body := h.post("/v1/chat/completions?trace=1", `{"model":"m"}`,
		"Authorization", "Bearer sk-test", "X-Request-Id", "client-chosen", "X-Forwarded-For", "10.1.1.1",
		"X-Envoy-Max-Retries", "9", "X-Envoy-Upstream-Rq-Timeout-Ms", "1")
	if resp.StatusCode != 200 || body != `upstream:{"model":"m"}` {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Server") != "envoy" {
		t.Errorf("server header = %q", resp.Header.Get("Server"))
	}
	reqs := h.proc.nextStream(t).requests()
	if diff := cmp.Diff([]string{"request_headers", "request_body", "response_headers", "response_body"}, kinds(reqs)); diff != "" {
		t.Fatalf("message kinds (-want +got):\n%s", diff)
	}
	pc := reqs[0].GetProtocolConfig()
	if pc.GetRequestBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED || pc.GetResponseBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED {
		t.Errorf("protocol_config = %v", pc)
	}
	if reqs[1].GetProtocolConfig() != nil {
		t.Error("protocol_config repeated after the first message")
	}
	rh := reqs[0].GetRequestHeaders()
	if rh.GetEndOfStream() {
		t.Error("end_of_stream on headers of a request with a body")
	}
	for _, hv := range rh.GetHeaders().GetHeaders() {
		if hv.GetValue() != "" || hv.GetKey() != strings.ToLower(hv.GetKey()) {
			t.Errorf("header %q: value must be empty and the key lower-case (value=%q)", hv.GetKey(), hv.GetValue())
		}
	}
	want := map[string]string{
		":method": "POST", ":path": "/v1/chat/completions?trace=1", ":authority": h.proxy.Addr(), ":scheme": "http",
		"authorization": "Bearer sk-test", "content-length": "13", "x-forwarded-for": "10.1.1.1,127.0.0.1",
		"x-forwarded-proto": "http",
	}
	for k, v := range want {
		if got, _ := headerOf(rh, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	rid, _ := headerOf(rh, "x-request-id")
	if !uuidV4.MatchString(rid) {
		t.Errorf("x-request-id %q: want a generated UUID replacing the client's", rid)
	}
	for _, stripped := range []string{"x-envoy-max-retries", "x-envoy-upstream-rq-timeout-ms"} {
		if _, ok := headerOf(rh, stripped); ok {
			t.Errorf("client-supplied %s reached the processor", stripped)
		}
	}
	if b := reqs[1].GetRequestBody(); string(b.GetBody()) != `{"model":"m"}` || !b.GetEndOfStream() {
		t.Errorf("request body message = %v", b)
	}
	st, _ := headerOf(reqs[2].GetResponseHeaders(), ":status")
	if _, ok := headerOf(reqs[2].GetResponseHeaders(), "x-envoy-upstream-service-time"); st != "200" || !ok {
		t.Errorf("response headers: :status %q, service time present %v", st, ok)
	}
	up := h.ups[0].last(t)
	if up.host != "127.0.0.1" {
		t.Errorf("auto_host_rewrite: upstream Host = %q, want the mock cluster's hostname", up.host)
	}
	if up.header.Get("X-Request-Id") != rid || up.header.Get("X-Gateway-Cluster") != "mock" ||
		up.header.Get("X-Envoy-Expected-Rq-Timeout-Ms") != "300000" || up.header.Get("User-Agent") != "Go-http-client/1.1" ||
		up.header.Get("X-Envoy-Max-Retries") != "" {
		t.Errorf("upstream headers: %v", up.header)
	}
}

func TestRequestWithoutBodyEndsStreamAtHeaders(t *testing.T) {
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
				HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true})}}
		}
		return passThrough(i, req)
	}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.base+"/v1/models", nil)
	resp, _ := h.do(req)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	reqs := h.proc.nextStream(t).requests()
	if !reqs[0].GetRequestHeaders().GetEndOfStream() {
		t.Error("end_of_stream must be true for a request without body")
	}
	if diff := cmp.Diff([]string{"request_headers", "response_headers", "response_body"}, kinds(reqs)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
}

func TestHeaderMutationSemanticsAtUpstream(t *testing.T) {
	mut := &extprocv3.HeaderMutation{
		SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-raw", RawValue: []byte("raw")}},
			// Only value: Envoy reads raw_value, so the header arrives empty.
			{Header: &corev3.HeaderValue{Key: "x-value-only", Value: "lost"}},
			{Header: &corev3.HeaderValue{Key: "x-multi", RawValue: []byte("b")}, Append: wrapperspb.Bool(true)},
			{Header: &corev3.HeaderValue{Key: "x-over", RawValue: []byte("new")}},
			{Header: &corev3.HeaderValue{Key: "x-absent-only", RawValue: []byte("kept-client")}, AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT},
			{Header: &corev3.HeaderValue{Key: "x-gateway-cluster", RawValue: []byte("mock")}},
		},
		RemoveHeaders: []string{"x-remove-me"},
	}
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{HeaderMutation: mut, ClearRouteCache: true})}}
		}
		return passThrough(i, req)
	}})
	resp, _ := h.post("/v1/chat/completions", "{}", "X-Multi", "a", "X-Over", "old", "X-Remove-Me", "1", "X-Absent-Only", "client")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.ups[0].last(t).header
	checks := []struct {
		name string
		want []string
	}{
		{"X-Raw", []string{"raw"}},
		{"X-Value-Only", []string{""}},
		{"X-Multi", []string{"a", "b"}},
		{"X-Over", []string{"new"}},
		{"X-Absent-Only", []string{"client"}},
		{"X-Remove-Me", nil},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, got[c.name]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestDisallowedMutations(t *testing.T) {
	mut := &extprocv3.HeaderMutation{
		SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-envoy-upstream-rq-timeout-ms", RawValue: []byte("1")}},
			{Header: &corev3.HeaderValue{Key: ":authority", RawValue: []byte("evil.example")}},
			{Header: &corev3.HeaderValue{Key: "x-allowed", RawValue: []byte("yes")}},
			{Header: &corev3.HeaderValue{Key: "x-gateway-cluster", RawValue: []byte("mock")}},
		},
		RemoveHeaders: []string{":path", "host"},
	}
	script := func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{HeaderMutation: mut, ClearRouteCache: true})}}
		}
		return passThrough(i, req)
	}
	noEnvoy := [2]string{"allow_envoy: true", "allow_envoy: false"}
	tests := []struct {
		name       string
		edits      [][2]string
		wantStatus int
		wantHits   int32
	}{
		{"ignored and counted", [][2]string{noEnvoy}, 200, 1},
		{"disallow_is_error", [][2]string{noEnvoy, {"allow_envoy: false", "allow_envoy: false\n                        disallow_is_error: true"}}, 500, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{edits: tc.edits, script: script})
			resp, _ := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != tc.wantStatus || h.hits() != tc.wantHits {
				t.Fatalf("status %d hits %d, want %d %d", resp.StatusCode, h.hits(), tc.wantStatus, tc.wantHits)
			}
			rejected := h.proxy.Counter("http.llm_gateway.ext_proc.rejected_header_mutations")
			if tc.wantStatus == 500 {
				if rejected == 0 {
					t.Error("rejected_header_mutations not counted")
				}
				return
			}
			if rejected != 4 {
				t.Errorf("rejected_header_mutations = %d, want 4 (x-envoy-*, :authority, remove :path, remove host)", rejected)
			}
			up := h.ups[0].last(t)
			if up.header.Get("X-Allowed") != "yes" || up.host == "evil.example" || up.uri != "/v1/chat/completions" {
				t.Errorf("upstream saw host %q uri %q headers %v", up.host, up.uri, up.header)
			}
		})
	}
}
