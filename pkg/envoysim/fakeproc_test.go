package envoysim

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// step is what the fake processor does after receiving one message.
type step struct {
	// answers are sent in order (none: the message stays unanswered).
	answers []*extprocv3.ProcessingResponse
	// wait delays the answers (cut short when the stream ends).
	wait time.Duration
	// end closes the stream after the answers: errCloseOK for status OK.
	end error
}

var errCloseOK = errors.New("close with OK")

// script decides the step for the i-th message of a stream.
type script func(i int, req *extprocv3.ProcessingRequest) step

// streamLog records one Process stream as the server saw it.
type streamLog struct {
	mu   sync.Mutex
	reqs []*extprocv3.ProcessingRequest
	done chan struct{}
	// ctxErr is the stream context's error when the handler returned.
	ctxErr error
	// recvErr is what ended the receive loop (io.EOF on half-close).
	recvErr error
}

func (l *streamLog) requests() []*extprocv3.ProcessingRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*extprocv3.ProcessingRequest(nil), l.reqs...)
}

// fakeProc is a scriptable ext_proc server on a real gRPC listener.
type fakeProc struct {
	extprocv3.UnimplementedExternalProcessorServer
	addr string

	mu      sync.Mutex
	script  script
	streams []*streamLog
	newLog  chan *streamLog
}

func startFakeProc(t *testing.T, s script) *fakeProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeProc{addr: ln.Addr().String(), script: s, newLog: make(chan *streamLog, 64)}
	srv := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(srv, f)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f
}

// Process runs the script against one stream.
func (f *fakeProc) Process(srv extprocv3.ExternalProcessor_ProcessServer) error {
	log := &streamLog{done: make(chan struct{})}
	f.mu.Lock()
	f.streams = append(f.streams, log)
	sc := f.script
	f.mu.Unlock()
	f.newLog <- log
	defer func() {
		log.mu.Lock()
		log.ctxErr = srv.Context().Err()
		log.mu.Unlock()
		close(log.done)
	}()
	for i := 0; ; i++ {
		req, err := srv.Recv()
		if err != nil {
			log.mu.Lock()
			log.recvErr = err
			log.mu.Unlock()
			// Wait for the reset that follows Envoy's half-close.
			select {
			case <-srv.Context().Done():
			case <-time.After(time.Second):
			}
			return nil
		}
		log.mu.Lock()
		log.reqs = append(log.reqs, req)
		log.mu.Unlock()
		st := sc(i, req)
		if st.wait > 0 {
			select {
			case <-time.After(st.wait):
			case <-srv.Context().Done():
				return srv.Context().Err()
			}
		}
		for _, a := range st.answers {
			if err := srv.Send(a); err != nil {
				return err
			}
		}
		switch {
		case errors.Is(st.end, errCloseOK):
			return nil
		case st.end != nil:
			return st.end
		}
	}
}

// lastStream waits for the next stream the server accepted.
func (f *fakeProc) nextStream(t *testing.T) *streamLog {
	t.Helper()
	select {
	case l := <-f.newLog:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no ext_proc stream opened")
		return nil
	}
}

// passThrough answers every message with an empty CONTINUE of its kind.
func passThrough(_ int, req *extprocv3.ProcessingRequest) step {
	return step{answers: []*extprocv3.ProcessingResponse{continueFor(req, nil)}}
}

// continueFor builds the matching answer for req carrying cr.
func continueFor(req *extprocv3.ProcessingRequest, cr *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	if cr == nil {
		cr = &extprocv3.CommonResponse{}
	}
	hr := &extprocv3.HeadersResponse{Response: cr}
	br := &extprocv3.BodyResponse{Response: cr}
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: hr}}
	case *extprocv3.ProcessingRequest_RequestBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: br}}
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: hr}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: br}}
	}
	return &extprocv3.ProcessingResponse{}
}

// setHeaders builds set_headers with raw_value and OVERWRITE_IF_EXISTS_OR_ADD,
// the form that overwrites under every Envoy version.
func setHeaders(kv ...string) *extprocv3.HeaderMutation {
	m := &extprocv3.HeaderMutation{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return m
}

func replaceBody(b string) *extprocv3.BodyMutation {
	return &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte(b)}}
}

func immediate(code int, body string, hm *extprocv3.HeaderMutation) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode(code)}, Body: []byte(body), Headers: hm, Details: "denied by test",
		}}}
}

func withOverride(r *extprocv3.ProcessingResponse, m *extprocfilterv3.ProcessingMode) *extprocv3.ProcessingResponse {
	r.ModeOverride = m
	return r
}

// kindOf names a request's message kind for assertions.
func kindOf(req *extprocv3.ProcessingRequest) string {
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return "request_headers"
	case *extprocv3.ProcessingRequest_RequestBody:
		return "request_body"
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return "response_headers"
	case *extprocv3.ProcessingRequest_ResponseBody:
		return "response_body"
	}
	return "other"
}

func kinds(reqs []*extprocv3.ProcessingRequest) []string {
	out := make([]string, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, kindOf(r))
	}
	return out
}

// headerOf returns a header as Envoy sent it (raw_value).
func headerOf(hh *extprocv3.HttpHeaders, name string) (string, bool) {
	for _, h := range hh.GetHeaders().GetHeaders() {
		if h.GetKey() == name {
			return string(h.GetRawValue()), true
		}
	}
	return "", false
}

func grpcErr(c codes.Code) error { return status.Error(c, "scripted failure") }

func protoJSON(m proto.Message) (string, error) {
	b, err := protojson.Marshal(m)
	return string(b), err
}

// waitDone waits for a stream to end.
func (l *streamLog) waitDone(t *testing.T) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("ext_proc stream did not end")
	}
}
