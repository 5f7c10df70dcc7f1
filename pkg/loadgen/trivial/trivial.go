// Package trivial is the cheapest correct ext_proc server: it answers CONTINUE
// to every message without looking at it, except that it switches SSE
// responses to STREAMED as an LLM gateway must. Its cost per request is the
// floor any ext_proc server pays (gRPC stream, protobuf, HTTP/2), the baseline
// the gateway's sidecar is measured against.
package trivial

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

// Server implements the ext_proc service. Its answers are built once and
// reused: the server must not spend time the gateway would not.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	reqHeaders, reqBody, respHeaders, respHeadersSSE, respBody, reqTrailers, respTrailers *extprocv3.ProcessingResponse
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// New returns a server.
func New() *Server {
	cont := func() *extprocv3.CommonResponse { return &extprocv3.CommonResponse{} }
	return &Server{
		reqHeaders: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
			RequestHeaders: &extprocv3.HeadersResponse{Response: cont()}}},
		reqBody: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{
			RequestBody: &extprocv3.BodyResponse{Response: cont()}}},
		respHeaders: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocv3.HeadersResponse{Response: cont()}}},
		respHeadersSSE: &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_ResponseHeaders{
				ResponseHeaders: &extprocv3.HeadersResponse{Response: cont()}},
			// Body modes in an override are copied as given, so only the
			// response body mode is named; the request is over by now.
			ModeOverride: &filterv3.ProcessingMode{ResponseBodyMode: filterv3.ProcessingMode_STREAMED},
		},
		respBody: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: cont()}}},
		reqTrailers: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}},
		respTrailers: &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}},
	}
}

// Answer returns the CONTINUE answer matching req, with a STREAMED mode
// override for event-stream response headers. Callers must not modify it.
func (s *Server) Answer(req *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return s.reqHeaders
	case *extprocv3.ProcessingRequest_RequestBody:
		return s.reqBody
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		if isEventStream(r.ResponseHeaders) {
			return s.respHeadersSSE
		}
		return s.respHeaders
	case *extprocv3.ProcessingRequest_ResponseBody:
		return s.respBody
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return s.reqTrailers
	default:
		return s.respTrailers
	}
}

func isEventStream(h *extprocv3.HttpHeaders) bool {
	for _, hv := range h.GetHeaders().GetHeaders() {
		if hv.GetKey() != "content-type" {
			continue
		}
		v := string(hv.GetRawValue())
		if v == "" {
			v = hv.GetValue()
		}
		return strings.HasPrefix(v, "text/event-stream")
	}
	return false
}

// Process answers every message of one stream until the client closes it.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(s.Answer(req)); err != nil {
			return err
		}
	}
}

// Serve runs a server on ln until ctx is cancelled, then stops gracefully.
func Serve(ctx context.Context, ln net.Listener, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(gs, New())
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case <-ctx.Done():
		gs.GracefulStop()
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}
