package gateway

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func dial(t *testing.T, target string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestServesOverUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "gw.sock")
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(strings.Replace(baseConfig, `grpc_listen: "127.0.0.1:0"`, `grpc_listen: "unix://`+sock+`"`, 1)), 0o644)
	startGateway(t, path)
	resp, err := healthpb.NewHealthClient(dial(t, "unix://"+sock)).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over unix socket: %v %v", resp, err)
	}
}

// TestGracefulShutdownDrainsInFlight: on shutdown readiness turns false first,
// the stream in flight still completes, and Shutdown waits for it.
func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(baseConfig), 0o644)
	g := startGateway(t, path)
	stream, err := extprocv3.NewExternalProcessorClient(dial(t, g.GRPCAddr())).Process(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(kv ...string) *corev3.HeaderMap {
		m := &corev3.HeaderMap{}
		for i := 0; i < len(kv); i += 2 {
			m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
		}
		return m
	}
	send := func(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: hdr(":method", "POST", ":path", "/v1/chat/completions", "authorization", "Bearer sk-gw-demo-local-only")}}})

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- g.Shutdown(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + g.AdminAddr() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness never turned false")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("shutdown returned with a stream in flight: %v", err)
	default:
	}
	// The in-flight request still completes.
	resp := send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
		Body: []byte(`{"model":"m1","messages":[{"role":"user","content":"hi"}]}`), EndOfStream: true}}})
	if resp.GetRequestBody() == nil {
		t.Fatalf("in-flight request not served during drain: %v", resp)
	}
	stream.CloseSend()
	stream.Recv()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
