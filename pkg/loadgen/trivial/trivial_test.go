package trivial

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func respHeaders(contentType string, raw bool) *extprocv3.ProcessingRequest {
	hv := &corev3.HeaderValue{Key: "content-type", Value: contentType}
	if raw {
		hv = &corev3.HeaderValue{Key: "content-type", RawValue: []byte(contentType)}
	}
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: ":status", RawValue: []byte("200")}, hv}}}}}
}

func TestAnswerContinuesAndStreamsSSE(t *testing.T) {
	s := New()
	tests := []struct {
		name       string
		req        *extprocv3.ProcessingRequest
		check      func(*extprocv3.ProcessingResponse) bool
		wantStream bool
	}{
		{"request headers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestHeaders() != nil }, false},
		{"request body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestBody() != nil }, false},
		{"json response headers", respHeaders("application/json", true),
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseHeaders() != nil }, false},
		{"sse response headers", respHeaders("text/event-stream; charset=utf-8", true),
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseHeaders() != nil }, true},
		{"sse in value field", respHeaders("text/event-stream", false),
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseHeaders() != nil }, true},
		{"response body", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseBody() != nil }, false},
		{"request trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetRequestTrailers() != nil }, false},
		{"response trailers", &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{}},
			func(r *extprocv3.ProcessingResponse) bool { return r.GetResponseTrailers() != nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Answer(tt.req)
			if !tt.check(r) {
				t.Fatalf("wrong answer kind %v", r)
			}
			streamed := r.GetModeOverride().GetResponseBodyMode() == filterv3.ProcessingMode_STREAMED
			if streamed != tt.wantStream {
				t.Fatalf("mode override %v, want streamed %v", r.GetModeOverride(), tt.wantStream)
			}
			for _, c := range []*extprocv3.CommonResponse{r.GetRequestHeaders().GetResponse(), r.GetResponseBody().GetResponse()} {
				if c.GetStatus() != extprocv3.CommonResponse_CONTINUE || c.GetHeaderMutation() != nil || c.GetBodyMutation() != nil {
					t.Fatalf("not a plain CONTINUE: %v", r)
				}
			}
		})
	}
}

func TestServeAnswersAndStopsGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln) }()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := extprocv3.NewExternalProcessorClient(conn).Process(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(respHeaders("text/event-stream", true)); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetModeOverride().GetResponseBodyMode() != filterv3.ProcessingMode_STREAMED {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("server did not end the stream with OK: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(t.Context(), ln); err == nil {
		t.Fatal("want an error from a closed listener")
	}
}
