package envoysim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestPromName(t *testing.T) {
	tests := []struct{ stat, want string }{
		{"cluster.mock.upstream_rq_retry", `envoy_cluster_upstream_rq_retry{envoy_cluster_name="mock"}`},
		{"cluster.mock.upstream_rq_503", `envoy_cluster_upstream_rq{envoy_cluster_name="mock",envoy_response_code="503"}`},
		{"cluster.mock.upstream_rq_5xx", `envoy_cluster_upstream_rq_xx{envoy_cluster_name="mock",envoy_response_code_class="5"}`},
		{"http.llm_gateway.ext_proc.message_timeouts", `envoy_http_ext_proc_message_timeouts{envoy_http_conn_manager_prefix="llm_gateway"}`},
		{"cluster.mock.outlier_detection.ejections_active", `envoy_cluster_outlier_detection_ejections_active{envoy_cluster_name="mock"}`},
	}
	for _, tc := range tests {
		ps := promName(tc.stat, 1)
		if got := ps.name + "{" + ps.labels + "}"; got != tc.want {
			t.Errorf("promName(%q) = %s, want %s", tc.stat, got, tc.want)
		}
	}
}

func TestAdminEndpoint(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	p, err := New(Options{Config: h.proxy.cfg, ListenAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		ClusterAddrs: map[string]string{"ext_proc_sidecar": h.proc.addr, "mock": h.ups[0].srv.Listener.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	h.base = "http://" + p.Addr()
	h.proxy = p
	if resp, _ := h.post("/v1/chat/completions", "{}"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + p.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/ready"); code != 200 || body != "LIVE\n" {
		t.Errorf("/ready = %d %q", code, body)
	}
	_, prom := get("/stats/prometheus")
	for _, want := range []string{
		"# TYPE envoy_http_downstream_rq_total counter",
		`envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="llm_gateway"} 1`,
		`envoy_cluster_upstream_rq{envoy_cluster_name="mock",envoy_response_code="200"} 1`,
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("/stats/prometheus lacks %q:\n%s", want, prom)
		}
	}
	if _, text := get("/stats"); !strings.Contains(text, "http.llm_gateway.downstream_rq_2xx: 1") {
		t.Errorf("/stats:\n%s", text)
	}
}

func TestAccessLogLine(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.post("/v1/chat/completions", `{"secret":"prompt"}`, "Authorization", "Bearer sk-secret")
	line := strings.TrimSpace(h.access.String())
	if strings.Contains(line, "sk-secret") || strings.Contains(line, "prompt") {
		t.Fatalf("access log leaks a key or the body: %s", line)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	checks := map[string]any{
		"method": "POST", "path": "/v1/chat/completions", "status": float64(200), "response_flags": "-",
		"upstream_cluster": "mock", "upstream_host": h.ups[0].srv.Listener.Addr().String(),
		"bytes_received": float64(19), "bytes_sent": float64(len(`upstream:{"secret":"prompt"}`)),
		"protocol": "HTTP/1.1", "gateway": nil,
	}
	for k, want := range checks {
		if diff := cmp.Diff(want, got[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if id, _ := got["request_id"].(string); !uuidV4.MatchString(id) {
		t.Errorf("request_id %v", got["request_id"])
	}
}

func TestAccessLogOperators(t *testing.T) {
	req := &headerMap{}
	req.add(":path", "/a?b")
	req.add("x-long", "abcdef")
	md, _ := structpb.NewStruct(map[string]any{"consumer": "demo", "tokens": map[string]any{"in": 3}})
	rec := &accessRecord{req: req, status: 503, flags: []string{"UF", "URX"}, metadata: map[string]*structpb.Struct{"llm_gateway": md},
		duration: 1500 * time.Millisecond, start: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	tests := map[string]string{
		"%RESPONSE_CODE% %RESPONSE_FLAGS%":                    "503 UF,URX",
		"%REQ(X-MISSING?:PATH)%":                              "/a?b",
		"%REQ(X-LONG):3%":                                     "abc",
		"%RESP(X-ANY)%":                                       "-",
		"%DYNAMIC_METADATA(llm_gateway:consumer)%":            "demo",
		"%DYNAMIC_METADATA(llm_gateway:tokens:in)%":           "3",
		"%DURATION%ms at %START_TIME%":                        "1500ms at 2025-01-02T03:04:05.006Z",
		"%UPSTREAM_TRANSPORT_FAILURE_REASON% stays a literal": "- stays a literal",
	}
	for tmpl, want := range tests {
		if err := checkOperators(tmpl); err != nil {
			t.Errorf("checkOperators(%q): %v", tmpl, err)
		}
		if got := expandText(tmpl, rec); got != want {
			t.Errorf("expandText(%q) = %q, want %q", tmpl, got, want)
		}
	}
	if v := expandJSONValue("%RESPONSE_CODE%", rec); v != 503 {
		t.Errorf("typed JSON value = %#v, want the number", v)
	}
}

func TestNewUUID(t *testing.T) {
	for _, r := range []Rand{fixedRand(0), fixedRand(^uint64(0)), globalRand{}} {
		if id := newUUID(r); !uuidV4.MatchString(id) {
			t.Errorf("newUUID = %q", id)
		}
	}
}

func TestReadAheadMergesArrivedChunks(t *testing.T) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	defer close(done)
	ra := newReadAhead(pr, 1<<20, done, func() {})
	go func() {
		_, _ = pw.Write([]byte("ab"))
		_, _ = pw.Write([]byte("cd"))
		_ = pw.Close()
	}()
	waitFor(t, "both chunks and EOF buffered", func() bool { return len(ra.ch) == 3 })
	buf := make([]byte, 16)
	n, err := ra.Read(buf)
	if err != nil || string(buf[:n]) != "abcd" {
		t.Fatalf("Read = %q, %v; want both arrived chunks at once", buf[:n], err)
	}
	if n, err := ra.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("second Read = %d, %v", n, err)
	}
}

func TestDynamicMetadataReachesAccessLog(t *testing.T) {
	md, _ := structpb.NewStruct(map[string]any{
		"llm_gateway": map[string]any{"consumer": "demo", "tokens": 12},
		"not_allowed": map[string]any{"x": 1},
	})
	h := newHarness(t, harnessOpts{script: func(i int, req *extprocv3.ProcessingRequest) step {
		st := routeTo("mock")(i, req)
		if req.GetRequestBody() != nil {
			st.answers[0].DynamicMetadata = md
		}
		return st
	}})
	h.post("/v1/chat/completions", "{}")
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(h.access.String())), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"consumer": "demo", "tokens": float64(12)}
	if diff := cmp.Diff(want, got["gateway"]); diff != "" {
		t.Errorf("gateway metadata (-want +got):\n%s", diff)
	}
}
