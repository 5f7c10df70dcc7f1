package envoysim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMainRejectsBadInvocations(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"config required", nil, "-c"},
		{"bad cluster-addr", []string{"-c", localYAML, "--cluster-addr", "mock"}, "name=host:port"},
		{"unknown cluster", []string{"-c", localYAML, "--cluster-addr", "nope=127.0.0.1:1"}, "unknown cluster"},
		{"missing file", []string{"-c", "does-not-exist.yaml"}, "does-not-exist.yaml"},
		{"bad log level", []string{"-c", localYAML, "-l", "loud"}, "log-level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Main(t.Context(), tc.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	listen := closedPort(t)
	ctx, cancel := context.WithCancel(t.Context())
	stdout := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"-c", localYAML, "--listen", listen, "--no-admin", "-l", "error",
			"--cluster-addr", "ext_proc_sidecar=" + closedPort(t), "--cluster-addr", "mock=" + closedPort(t)}, stdout, io.Discard)
	}()
	var resp *http.Response
	waitFor(t, "the stand-in to listen", func() bool {
		r, err := http.Post("http://"+listen+"/v1/chat/completions", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp = r
		return true
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 with the sidecar down", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not stop")
	}
	if !strings.Contains(stdout.String(), `"status":500`) {
		t.Errorf("no access log on stdout: %q", stdout.String())
	}
}
