package envoysim

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// testMessageTimeout keeps timeout tests fast (production uses 5 s).
const testMessageTimeout = 300 * time.Millisecond

// harnessOpts shape one end-to-end setup: client -> Proxy -> fake ext_proc
// server + fake upstream, all over real sockets.
type harnessOpts struct {
	// edits are old/new replacements applied to envoy.local.yaml.
	edits    [][2]string
	script   script
	upstream http.HandlerFunc
	// handlers, when set, start one upstream server per handler for "mock".
	handlers []http.HandlerFunc
	// mockAddr, when set, replaces the "mock" endpoints (e.g. a closed port).
	mockAddr string
	procDown bool
	rand     Rand
	clock    Clock
	backOff  func(int) time.Duration
	// messageTimeout overrides testMessageTimeout.
	messageTimeout time.Duration
	// mutate adjusts the parsed config (for settings a text edit cannot
	// target unambiguously).
	mutate func(*Config)
}

type harness struct {
	t      *testing.T
	proxy  *Proxy
	proc   *fakeProc
	ups    []*fakeUpstream
	base   string
	client *http.Client
	access *syncBuffer
}

// recordedReq is what an upstream received.
type recordedReq struct {
	method, uri, host string
	header            http.Header
	body              string
}

type fakeUpstream struct {
	srv     *httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	reqs    []recordedReq
	handler http.HandlerFunc
}

func (u *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.hits.Add(1)
	u.mu.Lock()
	u.reqs = append(u.reqs, recordedReq{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: string(body)})
	h := u.handler
	u.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	h(w, r)
}

func (u *fakeUpstream) last(t *testing.T) recordedReq {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// echoUpstream answers 200 with "upstream:" + the request body.
func echoUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", "yes")
	_, _ = io.WriteString(w, "upstream:"+string(body))
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	cfg := loadTestConfig(t, o.edits...)
	if o.mutate != nil {
		o.mutate(cfg)
	}
	if o.script == nil {
		o.script = routeTo("mock")
	}
	if o.upstream == nil {
		o.upstream = echoUpstream
	}
	h := &harness{t: t, access: &syncBuffer{}}
	h.proc = startFakeProc(t, o.script)
	procAddr := h.proc.addr
	if o.procDown {
		procAddr = closedPort(t)
	}
	if len(o.handlers) == 0 {
		o.handlers = []http.HandlerFunc{o.upstream}
	}
	var mockAddrs []string
	for _, hf := range o.handlers {
		u := &fakeUpstream{handler: hf}
		u.srv = httptest.NewServer(u)
		t.Cleanup(u.srv.Close)
		h.ups = append(h.ups, u)
		mockAddrs = append(mockAddrs, u.srv.Listener.Addr().String())
	}
	mt := testMessageTimeout
	if o.messageTimeout > 0 {
		mt = o.messageTimeout
	}
	mock := strings.Join(mockAddrs, ",")
	if o.mockAddr != "" {
		mock = o.mockAddr
	}
	p, err := New(Options{
		Config:     cfg,
		ListenAddr: "127.0.0.1:0",
		ClusterAddrs: map[string]string{
			"ext_proc_sidecar": procAddr,
			"mock":             mock,
			"vllm":             mockAddrs[0],
			"openai":           mockAddrs[0],
		},
		MessageTimeout: mt,
		RetryBackOff:   o.backOff,
		AccessLog:      h.access,
		Rand:           o.rand,
		Clock:          o.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	h.proxy = p
	h.base = "http://" + p.Addr()
	h.client = &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

func loadTestConfig(t *testing.T, edits ...[2]string) *Config {
	t.Helper()
	data, err := os.ReadFile(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	for _, e := range edits {
		if !strings.Contains(src, e[0]) {
			t.Fatalf("test setup: %q not found in envoy.local.yaml", e[0])
		}
		src = strings.Replace(src, e[0], e[1], 1)
	}
	cfg, err := ParseConfig([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// post sends a JSON POST and returns the response with its body read.
func (h *harness) post(path, body string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), http.MethodPost, h.base+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func (h *harness) hits() int32 {
	var n int32
	for _, u := range h.ups {
		n += u.hits.Load()
	}
	return n
}

// routeTo is the minimal sidecar: it picks the cluster in the request-body
// answer (with clear_route_cache) and passes everything else through.
func routeTo(cluster string) script {
	return func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestBody() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{
				HeaderMutation: setHeaders("x-gateway-cluster", cluster), ClearRouteCache: true,
			})}}
		}
		return passThrough(i, req)
	}
}

// syncBuffer is an io.Writer safe for the proxy's concurrent access logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
