package extproc

import (
	"context"
	"net"
	"strconv"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/policy"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

const (
	testKey      = "sk-test-alpha"
	testKeyOther = "sk-test-beta"
	providerKey  = "sk-provider-secret"
)

// testConfig has two models; consumer "alpha" may use only gpt-test.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	yaml := `
providers:
  - {name: primary, cluster: cluster_primary, api_key_env: PRIMARY_KEY, timeout: 7s, max_retries: 2}
models:
  - name: gpt-test
    deployments: [{provider: primary, model: upstream-model}]
  - name: other-model
    deployments: [{provider: primary}]
consumers:
  - id: alpha
    key_sha256: ["` + hashOf(testKey) + `"]
    models: [gpt-test]
  - id: beta
    key_sha256: ["` + hashOf(testKeyOther) + `"]
    models: ["*"]
`
	cfg, err := config.Parse([]byte(yaml), config.Env{Getenv: func(k string) string {
		if k == "PRIMARY_KEY" {
			return providerKey
		}
		return ""
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newTestServer builds the ext_proc server with an in-memory quota store.
func newTestServer(t testing.TB, cfg *config.Config) *Server {
	t.Helper()
	snap, err := policy.Compile(cfg, policy.CompileOptions{Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := quota.NewLimiter(quota.Options{Store: quota.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := telemetry.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Snapshot: func() *policy.Snapshot { return snap }, Quota: lim, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// startServer runs the ext_proc server on a real loopback gRPC listener.
func startServer(t testing.TB, cfg *config.Config) extprocv3.ExternalProcessorClient {
	t.Helper()
	srv := newTestServer(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return extprocv3.NewExternalProcessorClient(conn)
}

// stream is one ext_proc stream played the way Envoy plays it.
type stream struct {
	t testing.TB
	s extprocv3.ExternalProcessor_ProcessClient
}

func openStream(t testing.TB, c extprocv3.ExternalProcessorClient) *stream {
	t.Helper()
	s, err := c.Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &stream{t: t, s: s}
}

func (s *stream) send(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	s.t.Helper()
	if err := s.s.Send(req); err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.s.Recv()
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

func (s *stream) close() { _ = s.s.CloseSend() }

func headers(eos bool, kv ...string) *extprocv3.HttpHeaders {
	hm := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return &extprocv3.HttpHeaders{Headers: hm, EndOfStream: eos}
}

func reqHeaders(eos bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: headers(eos, kv...)}}
}

func reqBody(body string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: true}}}
}

func respHeaders(eos bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: headers(eos, kv...)}}
}

func respBody(body string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(body), EndOfStream: eos}}}
}

func chatHeaders(key string, extra ...string) *extprocv3.ProcessingRequest {
	kv := append([]string{":method", "POST", ":path", "/v1/chat/completions", ":authority", "gw", ":scheme", "http",
		"content-type", "application/json", "x-request-id", "req-1", "authorization", "Bearer " + key}, extra...)
	return reqHeaders(false, kv...)
}

// setHeaders returns the header values a response sets, by name.
func setHeaders(m *extprocv3.HeaderMutation) map[string]string {
	out := map[string]string{}
	for _, h := range m.GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			out[h.GetHeader().GetKey()] = "VALUE-FIELD-USED:" + h.GetHeader().GetValue()
			continue
		}
		out[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
