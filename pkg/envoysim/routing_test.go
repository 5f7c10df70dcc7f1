package envoysim

import (
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
)

func TestRoutingByClusterHeader(t *testing.T) {
	bodyAnswer := func(cr *extprocv3.CommonResponse) script {
		return func(i int, req *extprocv3.ProcessingRequest) step {
			if req.GetRequestBody() != nil {
				return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, cr)}}
			}
			return passThrough(i, req)
		}
	}
	headersAnswer := func(cr *extprocv3.CommonResponse) script {
		return func(i int, req *extprocv3.ProcessingRequest) step {
			if req.GetRequestHeaders() != nil {
				return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, cr)}}
			}
			return passThrough(i, req)
		}
	}
	tests := []struct {
		name       string
		script     script
		clientHdr  []string
		wantStatus int
		wantFlag   string
	}{
		{"set in body answer with clear_route_cache", bodyAnswer(&extprocv3.CommonResponse{
			HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true}), nil, 200, "-"},
		{"set without clear_route_cache keeps the cached route", bodyAnswer(&extprocv3.CommonResponse{
			HeaderMutation: setHeaders("x-gateway-cluster", "mock")}), nil, 503, "NC"},
		{"clear_route_cache without header_mutation is ignored", bodyAnswer(&extprocv3.CommonResponse{ClearRouteCache: true}),
			nil, 503, "NC"},
		{"unknown cluster", bodyAnswer(&extprocv3.CommonResponse{
			HeaderMutation: setHeaders("x-gateway-cluster", "nope"), ClearRouteCache: true}), nil, 503, "NC"},
		{"client header is routed unless the processor clears it", passThrough,
			[]string{"X-Gateway-Cluster", "mock"}, 200, "-"},
		{"client header removed with clear_route_cache", headersAnswer(&extprocv3.CommonResponse{
			HeaderMutation: &extprocv3.HeaderMutation{RemoveHeaders: []string{"x-gateway-cluster"}}, ClearRouteCache: true}),
			[]string{"X-Gateway-Cluster", "mock"}, 503, "NC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{script: tc.script})
			resp, _ := h.post("/v1/chat/completions", "{}", tc.clientHdr...)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			wantHits := int32(0)
			if tc.wantStatus == 200 {
				wantHits = 1
			}
			if h.hits() != wantHits {
				t.Errorf("upstream hits %d, want %d", h.hits(), wantHits)
			}
			if !strings.Contains(h.access.String(), `"response_flags":"`+tc.wantFlag+`"`) {
				t.Errorf("access log lacks flag %s: %s", tc.wantFlag, h.access.String())
			}
			if tc.wantStatus != 503 {
				return
			}
			// The router's local reply still passes through ext_proc's response path.
			reqs := h.proc.nextStream(t).requests()
			if diff := cmp.Diff([]string{"request_headers", "request_body", "response_headers"}, kinds(reqs)); diff != "" {
				t.Fatalf("kinds (-want +got):\n%s", diff)
			}
			if st, _ := headerOf(reqs[2].GetResponseHeaders(), ":status"); st != "503" || !reqs[2].GetResponseHeaders().GetEndOfStream() {
				t.Errorf("processor saw the NC reply as :status %q eos %v", st, reqs[2].GetResponseHeaders().GetEndOfStream())
			}
		})
	}
}

func TestMatchVirtualHost(t *testing.T) {
	vhs := []*VirtualHost{
		{Name: "any", Domains: []string{"*"}},
		{Name: "suffix", Domains: []string{"*.example.com"}},
		{Name: "prefix", Domains: []string{"api.*"}},
		{Name: "exact", Domains: []string{"api.example.com"}},
	}
	tests := map[string]string{
		"api.example.com": "exact", "www.example.com": "suffix", "api.other": "prefix",
		"localhost:10000": "any", "API.EXAMPLE.COM": "exact",
	}
	for host, want := range tests {
		t.Run(host, func(t *testing.T) {
			if got := matchVirtualHost(vhs, host); got == nil || got.Name != want {
				t.Errorf("matchVirtualHost(%q) = %v, want %s", host, got, want)
			}
		})
	}
	if got := matchVirtualHost(vhs[1:2], "nomatch"); got != nil {
		t.Errorf("want no match, got %s", got.Name)
	}
}
