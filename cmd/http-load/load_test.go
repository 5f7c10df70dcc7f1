package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llm-gateway/gateway/pkg/mockllm"
)

func startMock(t *testing.T, words int) string {
	t.Helper()
	srv := httptest.NewServer(mockllm.New(mockllm.Options{Config: mockllm.Config{Words: words}}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/chat/completions"
}

func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	var out, errb bytes.Buffer
	if err := cli(t.Context(), append(args, "-json"), &out, &errb); err != nil {
		t.Fatalf("cli: %v (stderr %s)", err, errb.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	return r
}

func TestJSONRun(t *testing.T) {
	url := startMock(t, 50)
	r := runJSON(t, "-url", url, "-n", "200", "-duration", "10s", "-concurrency", "4", "-chunks", "10")
	if r.Requests != 200 || r.Completed != 200 || r.Status[200] != 200 || len(r.Errors) != 0 {
		t.Fatalf("report = %+v", r)
	}
	if r.Latency.Count != 200 || r.Latency.P50 <= 0 || r.FirstByte.Count != 200 {
		t.Fatalf("latency = %+v, first byte %+v", r.Latency, r.FirstByte)
	}
}

func TestStreamRunCountsEventsAndCancels(t *testing.T) {
	url := startMock(t, 50)
	r := runJSON(t, "-url", url, "-n", "100", "-duration", "10s", "-concurrency", "4", "-stream", "-chunks", "20",
		"-cancel-fraction", "0.1", "-cancel-after", "3")
	if r.Requests != 100 || r.Completed != 90 || r.Cancelled != 10 || len(r.Errors) != 0 {
		t.Fatalf("report = %+v", r)
	}
	// role event, 20 content events, finish event (no usage: not asked for).
	if r.EventsPerRequest != 22 {
		t.Fatalf("events per completed stream = %v, want 22", r.EventsPerRequest)
	}
}

func TestNonLoopbackRefused(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1:10000/v1/chat/completions", "http://example.com/v1"} {
		err := cli(t.Context(), []string{"-url", u, "-n", "1"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "not on loopback") {
			t.Errorf("%s: err = %v", u, err)
		}
	}
}

func TestRunsAreBounded(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-duration", "0s"}, {"-cancel-fraction", "0.5"}} {
		if err := cli(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
