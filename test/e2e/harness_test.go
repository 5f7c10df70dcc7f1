// Package e2e drives the whole path a client uses: the official OpenAI Go SDK ->
// the Envoy stand-in (reading envoy/envoy.local.yaml) -> the sidecar over real
// gRPC -> the mock provider, with quotas in a real redis-server.
package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llm-gateway/gateway/internal/testredis"
	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/envoysim"
	"github.com/llm-gateway/gateway/pkg/gateway"
	"github.com/llm-gateway/gateway/pkg/mockllm"
)

const (
	demoKey     = "sk-e2e-demo"
	limitedKey  = "sk-e2e-limited"
	bulkKey     = "sk-e2e-bulk"
	providerKey = "sk-provider-e2e-SECRET"
)

// stack is one running gateway deployment.
type stack struct {
	t       *testing.T
	redis   *testredis.Server
	mock    *mock
	gw      *gateway.Gateway
	proxy   *envoysim.Proxy
	logs    *syncBuffer
	baseURL string
}

type stackOptions struct {
	extraConfig    string
	messageTimeout time.Duration
	redis          *testredis.Server // share one Redis between stacks
	mock           *mock
	failurePolicy  string
	tracer         trace.TracerProvider
	// quotaExtra is added to the quota section, e.g. "leases: {enabled: true}".
	quotaExtra string
}

func sha(key string) string {
	return strings.TrimSpace(hashKey(key))
}

func configYAML(redisAddr, extra, failurePolicy, quotaExtra string) string {
	if failurePolicy == "" {
		failurePolicy = "closed"
	}
	return `
server: {grpc_listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", shutdown_timeout: 5s}
providers:
  - {name: mock, kind: vllm, cluster: mock, api_key_env: E2E_PROVIDER_KEY, timeout: 10s, max_retries: 1}
  - name: flaky
    cluster: mock
    timeout: 5s
    breaker: {failure_threshold: 2, open_for: 1m}
models:
  - name: gpt-4o-mini
    deployments: [{provider: mock, model: mock-small}]
  - name: hidden-model
    deployments: [{provider: mock}]
  - name: flaky-model
    deployments: [{provider: flaky}]
consumers:
  - id: demo
    key_sha256: ["` + sha(demoKey) + `"]
    models: [gpt-4o-mini]
  - id: limited
    key_sha256: ["` + sha(limitedKey) + `"]
    models: ["*"]
    limits: {requests_per_minute: 5}
  - id: bulk
    key_sha256: ["` + sha(bulkKey) + `"]
    models: ["*"]
    limits: {requests_per_minute: 100000, tokens_per_day: 10000000, max_concurrent: 10000}
quota:
  store: redis
  redis: {addrs: ["` + redisAddr + `"]}
  timeout: 500ms # the default 50 ms is tight for Redis on a CI runner busy with -race
  failure_policy: ` + failurePolicy + `
  ` + quotaExtra + `
guardrails:
  banned_words: ["forbidden phrase", "zorblax"]
  output_action: redact
` + extra
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, logs: &syncBuffer{}}
	s.redis = o.redis
	if s.redis == nil {
		s.redis = testredis.Start(t)
	}
	s.mock = o.mock
	if s.mock == nil {
		s.mock = startMock(t)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, []byte(configYAML(s.redis.Addr(), o.extraConfig, o.failurePolicy, o.quotaExtra)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := config.Env{Getenv: func(k string) string {
		if k == "E2E_PROVIDER_KEY" {
			return providerKey
		}
		return ""
	}, ReadFile: os.ReadFile}
	gw, err := gateway.Start(t.Context(), gateway.Options{ConfigPath: path, Env: env, LogOutput: s.logs, TracerProvider: o.tracer})
	if err != nil {
		t.Fatal(err)
	}
	s.gw = gw
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	s.proxy = startProxy(t, gw.GRPCAddr(), s.mockAddr(), o.messageTimeout)
	s.baseURL = "http://" + s.proxy.Addr()
	return s
}

func (s *stack) mockAddr() string { return s.mock.addr }

// mock is a running mock provider and its address.
type mock struct {
	*mockllm.Server
	addr string
}

func startMock(t *testing.T) *mock {
	t.Helper()
	m := mockllm.New(mockllm.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &mock{Server: m, addr: ln.Addr().String()}
}

func startProxy(t *testing.T, sidecarAddr, mockAddr string, messageTimeout time.Duration) *envoysim.Proxy {
	t.Helper()
	cfg, err := envoysim.LoadConfig("../../envoy/envoy.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := envoysim.New(envoysim.Options{
		Config:         cfg,
		ListenAddr:     "127.0.0.1:0",
		ClusterAddrs:   map[string]string{"ext_proc_sidecar": sidecarAddr, "mock": mockAddr},
		MessageTimeout: messageTimeout,
		RetryBackOff:   func(int) time.Duration { return time.Millisecond },
		AccessLog:      io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func (s *stack) client(key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.baseURL+"/v1"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// post sends a raw request (for what SDKs cannot express).
func (s *stack) post(key, path string, body []byte) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.baseURL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (s *stack) mockCalls() int {
	_, n := s.mock.Requests()
	return n
}

// syncBuffer collects the sidecar's logs for assertions.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// postHeaders sends a chat request with extra client headers.
func (s *stack) postHeaders(key, body string, headers map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.baseURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// waitLog waits (bounded) for the sidecar to log substr: the request line is
// written when the ext_proc stream ends, just after the client got its answer.
func (s *stack) waitLog(substr string) string {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := s.logs.String()
		if strings.Contains(logs, substr) {
			return logs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("log never contained %q:\n%s", substr, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
