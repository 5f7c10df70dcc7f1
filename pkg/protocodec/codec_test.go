package protocodec

import (
	"bytes"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func responseBody(body []byte, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: body, EndOfStream: eos}}}
}

func requestBody(body []byte, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: eos}}}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The headers and body messages Envoy sends take the fast path and decode as
// proto.Unmarshal decodes them.
func TestEnvoyMessagesDecodeAsProtoDoes(t *testing.T) {
	chunk := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
	cases := map[string][]byte{
		"response chunk":         marshal(t, responseBody(chunk, false)),
		"response last chunk":    marshal(t, responseBody(chunk, true)),
		"response empty end":     marshal(t, responseBody(nil, true)),
		"response empty":         marshal(t, responseBody(nil, false)),
		"request body":           marshal(t, requestBody(bytes.Repeat([]byte("x"), 5000), true)),
		"request body in chunks": marshal(t, requestBody([]byte("{\"model\":"), false)),
		"end_of_stream as 2":     protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 2)),
		"end_of_stream before body": protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1), 1, protowire.BytesType), []byte("abc"))),
	}
	for name, m := range envoyMessages() {
		cases[name] = marshal(t, m)
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var want extprocv3.ProcessingRequest
			if err := proto.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			var got extprocv3.ProcessingRequest
			if !decodeRequest(b, &got) {
				t.Fatal("fast path not taken")
			}
			if !proto.Equal(&got, &want) {
				t.Fatalf("decoded %v, proto.Unmarshal gives %v", &got, &want)
			}
		})
	}
}

// envoyMessages are the headers and body messages as Envoy sends them: an
// empty metadata_context on each, protocol_config on the first.
func envoyMessages() map[string]*extprocv3.ProcessingRequest {
	hv := func(kv ...string) []*corev3.HeaderValue {
		var out []*corev3.HeaderValue
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
		}
		return out
	}
	first := &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
			Headers: &corev3.HeaderMap{Headers: hv(":path", "/v1/chat/completions", ":method", "POST",
				"authorization", "Bearer sk-x", "content-type", "application/json", "x-empty", "")}}},
		MetadataContext: &corev3.Metadata{},
		ProtocolConfig: &extprocv3.ProtocolConfiguration{RequestBodyMode: filterv3.ProcessingMode_BUFFERED,
			ResponseBodyMode: filterv3.ProcessingMode_STREAMED, SendBodyWithoutWaitingForHeaderResponse: true},
	}
	resp := &extprocv3.ProcessingRequest{
		Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{
			Headers:     &corev3.HeaderMap{Headers: append(hv(":status", "200"), &corev3.HeaderValue{Key: "x-old", Value: "v"})},
			EndOfStream: true}},
		MetadataContext: &corev3.Metadata{},
	}
	body := responseBody([]byte("data: [DONE]\n\n"), true)
	body.MetadataContext = &corev3.Metadata{}
	return map[string]*extprocv3.ProcessingRequest{
		"first request headers": first,
		"response headers":      resp,
		"no header map":         {Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{EndOfStream: true}}},
		"empty header map":      {Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{Headers: &corev3.HeaderMap{}}}},
		"body with metadata":    body,
	}
}

// The body is the decoder's own copy: gRPC reuses the bytes it decoded from.
func TestBodyChunkBodyIsCopied(t *testing.T) {
	b := marshal(t, responseBody([]byte("hello"), false))
	var got extprocv3.ProcessingRequest
	if !decodeRequest(b, &got) {
		t.Fatal("fast path not taken")
	}
	for i := range b {
		b[i] = 0
	}
	if body := got.GetResponseBody().GetBody(); string(body) != "hello" {
		t.Fatalf("body %q after the input was overwritten", body)
	}
}

// Any other message is left to the general decoder, and the
// message is not touched.
func TestOtherMessagesFallBack(t *testing.T) {
	withAttrs := responseBody([]byte("x"), false)
	withAttrs.Attributes = map[string]*structpb.Struct{"envoy.filters.http.ext_proc": {}}
	withNonEmptyMeta := requestBody([]byte("x"), true)
	withNonEmptyMeta.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"ns": {}}}
	chunk := marshal(t, responseBody([]byte("x"), false))
	inner := marshal(t, &extprocv3.HttpBody{Body: []byte("x")})
	header := func(hv []byte) []byte { // request headers holding one HeaderValue hv
		m := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), hv)
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), m))
	}
	key := func(k string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), k)
	}
	cases := map[string][]byte{
		"trailers":           marshal(t, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{ResponseTrailers: &extprocv3.HttpTrailers{}}}),
		"attributes":         marshal(t, withAttrs),
		"non-empty metadata": marshal(t, withNonEmptyMeta),
		"header attributes": marshal(t, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
			RequestHeaders: &extprocv3.HttpHeaders{Attributes: map[string]*structpb.Struct{"a": {}}}}}),
		"invalid UTF-8 key":    header(key("\xff")),
		"key twice":            header(append(key("a"), key("b")...)),
		"unknown header field": header(protowire.AppendVarint(protowire.AppendTag(nil, 4, protowire.VarintType), 1)),
		"protocol twice": append(marshal(t, &extprocv3.ProcessingRequest{ProtocolConfig: &extprocv3.ProtocolConfiguration{}, Request: responseBody(nil, true).Request}),
			protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), nil)...),
		"protocol only":      marshal(t, &extprocv3.ProcessingRequest{ProtocolConfig: &extprocv3.ProtocolConfiguration{RequestBodyMode: filterv3.ProcessingMode_BUFFERED}}),
		"observability":      marshal(t, &extprocv3.ProcessingRequest{Request: responseBody(nil, true).Request, ObservabilityMode: true}),
		"chunk twice":        append(append([]byte{}, chunk...), chunk...),
		"body twice":         protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), append(append([]byte{}, inner...), inner...)),
		"unknown body field": protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)),
		"unknown field":      protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1),
		"truncated":          chunk[:len(chunk)-1],
		"empty":              {},
		"wrong wire type":    protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), 1),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var got extprocv3.ProcessingRequest
			got.ObservabilityMode = true // a sentinel the fast path must not clear
			if decodeRequest(b, &got) {
				t.Fatalf("fast path taken for %x: %v", b, &got)
			}
			if !got.ObservabilityMode || got.Request != nil {
				t.Fatalf("message changed: %v", &got)
			}
		})
	}
}

// Through the codec: body chunks and everything else decode as with gRPC's
// default codec, including a message that arrives in several buffers.
func TestCodecUnmarshal(t *testing.T) {
	c := New()
	msgs := []proto.Message{
		responseBody([]byte("data: x\n\n"), false),
		requestBody(bytes.Repeat([]byte("y"), 3000), true),
		&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocv3.HttpHeaders{EndOfStream: true}}},
	}
	for _, m := range msgs {
		b := marshal(t, m)
		for _, data := range []mem.BufferSlice{{mem.SliceBuffer(b)}, {mem.SliceBuffer(b[:3]), mem.SliceBuffer(b[3:])}} {
			var got extprocv3.ProcessingRequest
			if err := c.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&got, m) {
				t.Fatalf("decoded %v, want %v", &got, m)
			}
		}
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, &extprocv3.ProcessingRequest{}); err == nil {
		t.Fatal("malformed bytes decoded without error")
	}
}

// What the codec encodes is what gRPC's default codec encodes, for the
// messages the server sends and for other services' messages.
func TestCodecMarshal(t *testing.T) {
	c, std := New(), encoding.GetCodecV2("proto")
	msgs := []proto.Message{
		&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{
			Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte("data: y\n\n")}}}}}},
		&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{
			Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: bytes.Repeat([]byte("z"), 4000)}}}}}},
		&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocv3.ImmediateResponse{
			Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests}, Body: []byte(`{"error":{}}`), Details: "rate_limited"}}},
		&extprocv3.ProcessingResponse{},
		&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING},
	}
	for _, m := range msgs {
		got, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := std.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want.Materialize()) {
			t.Fatalf("%T: encoded %x, default codec %x", m, got.Materialize(), want.Materialize())
		}
		got.Free()
		want.Free()
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, m := range envoyMessages() {
		f.Add(marshal(f, m))
	}
	f.Add(marshal(f, responseBody([]byte("data: {}\n\n"), false)))
	f.Add(marshal(f, requestBody([]byte("{}"), true)))
	f.Add(marshal(f, responseBody(nil, true)))
	f.Add([]byte{0x2a, 0x02, 0x10, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got := extprocv3.ProcessingRequest{ObservabilityMode: true} // must survive a refusal
		in := append([]byte(nil), b...)
		if !decodeRequest(in, &got) {
			if !got.ObservabilityMode || got.Request != nil || got.MetadataContext != nil || got.ProtocolConfig != nil {
				t.Fatalf("%x refused, but the message changed: %v", b, &got)
			}
			return
		}
		clear(in) // gRPC reuses the bytes: nothing decoded may point into them
		var want extprocv3.ProcessingRequest
		if err := proto.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %x, proto.Unmarshal: %v", b, err)
		}
		if !proto.Equal(&got, &want) {
			t.Fatalf("%x: decoded %v, proto.Unmarshal gives %v", b, &got, &want)
		}
	})
}
