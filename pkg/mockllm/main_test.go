package mockllm

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-listen", "127.0.0.1:0", "-words", "3", "-models", "x, y"}, outW, io.Discard)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	base := strings.TrimSpace(strings.TrimPrefix(line, "mock-llm listening on "))
	for _, path := range []string{"/healthz", "/v1/models"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/v1/models" && !strings.Contains(string(body), `"y"`) {
			t.Errorf("models %s lack the -models flag", body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
}

func TestMainRejectsBadFlags(t *testing.T) {
	cases := [][]string{
		{"-error-rate", "2"},
		{"-words", "-1"},
		{"-nope"},
		{"extra"},
		{"-listen", "256.0.0.1:99999"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if err := Main(t.Context(), args, io.Discard, io.Discard); err == nil {
				t.Error("Main accepted bad arguments")
			}
		})
	}
}
