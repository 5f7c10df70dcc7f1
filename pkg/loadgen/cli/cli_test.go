package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-gateway/gateway/pkg/loadgen"
	"github.com/llm-gateway/gateway/pkg/loadgen/trivial"
)

func startTrivial(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = trivial.Serve(t.Context(), ln) }()
	return ln.Addr().String()
}

func TestLoadPrintsReports(t *testing.T) {
	addr := startTrivial(t)
	t.Run("json", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := Load(t.Context(), []string{"-addr", addr, "-n", "40", "-concurrency", "4", "-stream", "-chunks", "10", "-json"}, &out, &errOut)
		if err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
		var rep loadgen.Report
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		if rep.Requests != 40 || rep.Completed != 40 || rep.ChunksSent != 400 || rep.Phases["response_chunk"].Count != 40*12 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("text", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := Load(t.Context(), []string{"-addr", addr, "-n", "20", "-concurrency", "2", "-server-pid", strconv.Itoa(os.Getpid())}, &out, &errOut)
		if err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
		for _, want := range []string{
			`requests 20 in .* req/s: completed 20, immediate 0, errors 0`,
			`(?m)^request_headers +20 `, `(?m)^response_body +20 `, `(?m)^whole request +20 `,
			`server CPU \(pid \d+\): .* µs/request`, `load tool CPU: `,
		} {
			if !regexp.MustCompile(want).MatchString(out.String()) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})
}

func TestLoadRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"remote target", []string{"-addr", "203.0.113.9:50051"}, "not a loopback"},
		{"unbounded count", []string{"-n", "0"}, "always bounded"},
		{"unbounded duration", []string{"-duration", "0s"}, "always bounded"},
		{"unknown flag", []string{"-bogus"}, "not defined"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Load(t.Context(), tt.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTrivialServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := net.Pipe()
	defer pr.Close()
	done := make(chan error, 1)
	go func() { done <- Trivial(ctx, []string{"-listen", "127.0.0.1:0"}, pw) }()
	line := make([]byte, 128)
	n, err := pr.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(line[:n])), "extproc-trivial listening on ")
	if !ok {
		t.Fatalf("unexpected banner %q", line[:n])
	}
	var out bytes.Buffer
	if err := Load(t.Context(), []string{"-addr", addr, "-n", "5", "-json"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Trivial did not stop")
	}
}
