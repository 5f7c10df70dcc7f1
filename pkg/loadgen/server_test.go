package loadgen

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"

	"github.com/llm-gateway/gateway/pkg/loadgen/trivial"
)

// errEndOK makes the fake server end the stream with OK status.
var errEndOK = errors.New("end stream with OK")

// hook may replace the trivial answer to message msg (0-based) of stream
// number stream (1-based); a nil answer keeps it.
type hook func(stream int64, msg int, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error)

// fakeServer is the trivial server with hooks, for the failure cases.
type fakeServer struct {
	extprocv3.UnimplementedExternalProcessorServer
	base    *trivial.Server
	hook    hook
	streams atomic.Int64
}

func (f *fakeServer) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	n := f.streams.Add(1)
	for i := 0; ; i++ {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp := f.base.Answer(req)
		if f.hook != nil {
			r, err := f.hook(n, i, req)
			if errors.Is(err, errEndOK) {
				return nil
			}
			if err != nil {
				return err
			}
			if r != nil {
				resp = r
			}
		}
		if err := s.Send(resp); err != nil {
			return err
		}
	}
}

// startServer serves srv on a loopback port for the test's lifetime.
func startServer(t testing.TB, srv extprocv3.ExternalProcessorServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

func startFake(t testing.TB, h hook) (string, *fakeServer) {
	f := &fakeServer{base: trivial.New(), hook: h}
	return startServer(t, f), f
}

func immediateResponse(code int) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(code)},
			Body:   []byte(`{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`),
		}}}
}

func isKind[T any](req *extprocv3.ProcessingRequest) bool {
	_, ok := req.GetRequest().(T)
	return ok
}
