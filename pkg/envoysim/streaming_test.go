package envoysim

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
)

// streamingSidecar routes to mock, switches the response body to STREAMED
// for event streams and upper-cases every chunk, as a guardrail would.
func streamingSidecar(i int, req *extprocv3.ProcessingRequest) step {
	switch {
	case req.GetResponseHeaders() != nil:
		return step{answers: []*extprocv3.ProcessingResponse{withOverride(continueFor(req, nil),
			&extprocfilterv3.ProcessingMode{ResponseBodyMode: extprocfilterv3.ProcessingMode_STREAMED})}}
	case req.GetResponseBody() != nil:
		up := strings.ToUpper(string(req.GetResponseBody().GetBody()))
		return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, &extprocv3.CommonResponse{BodyMutation: replaceBody(up)})}}
	}
	return routeTo("mock")(i, req)
}

func TestStreamedResponseViaModeOverride(t *testing.T) {
	gate := make(chan struct{})
	upstream := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-gate: // the client has seen the first event
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}
	h := newHarness(t, harnessOpts{script: streamingSidecar, upstream: upstream})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.base+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Length") != "" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("headers %v", resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	first := readEvent(t, br)
	close(gate) // only now may the upstream send the second event
	second := readEvent(t, br)
	if first != "DATA: ONE\n\n" || second != "DATA: TWO\n\n" {
		t.Errorf("events %q %q", first, second)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("trailing bytes %q", rest)
	}
	resp.Body.Close()

	var bodies []*extprocv3.HttpBody
	for _, r := range h.proc.nextStream(t).requests() {
		if b := r.GetResponseBody(); b != nil {
			bodies = append(bodies, b)
		}
	}
	if len(bodies) < 2 {
		t.Fatalf("want one message per chunk, got %d", len(bodies))
	}
	var all strings.Builder
	for i, b := range bodies {
		all.Write(b.GetBody())
		if b.GetEndOfStream() != (i == len(bodies)-1) {
			t.Errorf("chunk %d end_of_stream = %v", i, b.GetEndOfStream())
		}
	}
	if all.String() != "data: one\n\ndata: two\n\n" {
		t.Errorf("chunks carried %q", all.String())
	}
}

// readEvent reads one SSE event, failing the test if it does not arrive
// while the upstream still holds the rest of the stream.
func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var sb strings.Builder
		for {
			line, err := br.ReadString('\n')
			sb.WriteString(line)
			if err != nil || line == "\n" {
				ch <- result{sb.String(), err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("reading event: %v (got %q)", r.err, r.s)
		}
		return r.s
	case <-time.After(3 * time.Second):
		t.Fatal("event not flushed to the client")
		return ""
	}
}

func TestModeOverrideSemantics(t *testing.T) {
	// An override in the request-headers answer that names only the response
	// header mode: body modes are copied as given, so both bodies turn NONE.
	headersOnly := &extprocfilterv3.ProcessingMode{ResponseHeaderMode: extprocfilterv3.ProcessingMode_SEND}
	script := func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetRequestHeaders() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{withOverride(continueFor(req, &extprocv3.CommonResponse{
				HeaderMutation: setHeaders("x-gateway-cluster", "mock"), ClearRouteCache: true}), headersOnly)}}
		}
		return passThrough(i, req)
	}
	tests := []struct {
		name  string
		edits [][2]string
		want  []string
	}{
		{"override applied", nil, []string{"request_headers", "response_headers"}},
		{"override ignored without allow_mode_override", [][2]string{{"allow_mode_override: true", "allow_mode_override: false"}},
			[]string{"request_headers", "request_body", "response_headers", "response_body"}},
		{"override ignored when not in allowed_override_modes", [][2]string{{"allow_mode_override: true",
			"allow_mode_override: true\n                      allowed_override_modes:\n                        - response_body_mode: STREAMED"}},
			[]string{"request_headers", "request_body", "response_headers", "response_body"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{edits: tc.edits, script: script})
			resp, body := h.post("/v1/chat/completions", "{}")
			if resp.StatusCode != 200 || body != "upstream:{}" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if diff := cmp.Diff(tc.want, kinds(h.proc.nextStream(t).requests())); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamedResponseImmediateAfterHeadersResets(t *testing.T) {
	script := func(i int, req *extprocv3.ProcessingRequest) step {
		if req.GetResponseBody() != nil {
			return step{answers: []*extprocv3.ProcessingResponse{immediate(500, "too late", nil)}}
		}
		return streamingSidecar(i, req)
	}
	h := newHarness(t, harnessOpts{script: script, upstream: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
	}})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.base+"/v1/chat/completions", strings.NewReader("{}"))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("headers already sent as %d", resp.StatusCode)
	}
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("want the stream reset, read %q cleanly", b)
	}
}

func TestStreamedChunksArePipelined(t *testing.T) {
	// The processor answers nothing until it has seen the last chunk: only an
	// Envoy that sends chunks without waiting for answers gets there.
	var held []*extprocv3.ProcessingRequest
	script := func(i int, req *extprocv3.ProcessingRequest) step {
		b := req.GetResponseBody()
		if b == nil {
			return streamingSidecar(i, req)
		}
		held = append(held, req)
		if !b.GetEndOfStream() {
			return step{}
		}
		var answers []*extprocv3.ProcessingResponse
		for _, r := range held {
			answers = append(answers, streamingSidecar(i, r).answers...)
		}
		return step{answers: answers}
	}
	h := newHarness(t, harnessOpts{script: script, upstream: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{"data: a\n\n", "data: b\n\n"} {
			_, _ = io.WriteString(w, ev)
			w.(http.Flusher).Flush()
		}
	}})
	resp, body := h.post("/v1/chat/completions", `{"stream":true}`)
	if resp.StatusCode != 200 || body != "DATA: A\n\nDATA: B\n\n" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestH2CDownstream(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	h.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	resp, body := h.post("/v1/chat/completions", "{}")
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || body != "upstream:{}" {
		t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	rh := h.proc.nextStream(t).requests()[0].GetRequestHeaders()
	if m, _ := headerOf(rh, ":method"); m != "POST" {
		t.Errorf(":method %q", m)
	}
}
