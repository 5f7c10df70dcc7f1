package loadgen

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func TestRequestHeadersAreWhatEnvoySends(t *testing.T) {
	tmpl, err := newTemplate(Options{Key: "sk-k", Model: "m", Path: "/v1/chat/completions", Authority: "gw", PromptBytes: 10, Chunks: 3}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := newIDSource(bytes.NewReader(make([]byte, 10)))
	if err != nil {
		t.Fatal(err)
	}
	m := tmpl.requestHeaders(ids.id(7))
	if pc := m.GetProtocolConfig(); pc.GetRequestBodyMode() != filterv3.ProcessingMode_BUFFERED || pc.GetResponseBodyMode() != filterv3.ProcessingMode_BUFFERED {
		t.Errorf("protocol_config %v", pc)
	}
	for _, msg := range []*extprocv3.ProcessingRequest{m, tmpl.reqBody, tmpl.respHeaders, tmpl.bufferedBody} {
		if msg.GetMetadataContext() == nil {
			t.Errorf("%v: no metadata_context (Envoy sends one, empty, with every message)", msg)
		}
	}
	got := map[string]string{}
	for _, h := range m.GetRequestHeaders().GetHeaders().GetHeaders() {
		if h.GetValue() != "" || h.GetKey() != strings.ToLower(h.GetKey()) {
			t.Errorf("header %q: value must be in raw_value, name lower-case", h.GetKey())
		}
		got[h.GetKey()] = string(h.GetRawValue())
	}
	for k, v := range map[string]string{":method": "POST", ":path": "/v1/chat/completions", ":authority": "gw",
		":scheme": "http", "authorization": "Bearer sk-k", "x-request-id": "00000000-0000-4000-a000-000000000007",
		"content-length": strconv.Itoa(len(tmpl.reqBody.GetRequestBody().GetBody()))} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if m.GetRequestHeaders().GetEndOfStream() || !tmpl.reqBody.GetRequestBody().GetEndOfStream() {
		t.Error("request headers must not end the stream; the buffered body must")
	}
}

func TestRequestIDsAreUniqueAndUUIDShaped(t *testing.T) {
	ids, err := newIDSource(bytes.NewReader(bytes.Repeat([]byte{0xab}, 10)))
	if err != nil {
		t.Fatal(err)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for n := range uint64(1000) {
		id := ids.id(n * 7919)
		if !uuid.MatchString(id) || seen[id] {
			t.Fatalf("id %q malformed or repeated", id)
		}
		seen[id] = true
	}
	if _, err := newIDSource(bytes.NewReader(nil)); err == nil {
		t.Error("want an error when randomness runs out")
	}
}

func TestStreamTemplateEndsWithDone(t *testing.T) {
	tmpl, err := newTemplate(Options{Stream: true, Chunks: 4}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.chunks) != 6 || tmpl.tokenChunks != 4 {
		t.Fatalf("%d chunk messages, %d token chunks", len(tmpl.chunks), tmpl.tokenChunks)
	}
	var whole []byte
	for i, c := range tmpl.chunks {
		b := c.GetResponseBody()
		if b.GetEndOfStream() != (i == len(tmpl.chunks)-1) {
			t.Errorf("chunk %d end_of_stream %v", i, b.GetEndOfStream())
		}
		whole = append(whole, b.GetBody()...)
	}
	if !bytes.Equal(whole, tmpl.bufferedBody.GetResponseBody().GetBody()) || !bytes.HasSuffix(whole, []byte("data: [DONE]\n\n")) {
		t.Error("buffered SSE body differs from the chunks")
	}
}

func TestModeOverride(t *testing.T) {
	const (
		none     = filterv3.ProcessingMode_NONE
		streamed = filterv3.ProcessingMode_STREAMED
		buffered = filterv3.ProcessingMode_BUFFERED
	)
	tests := []struct {
		name string
		o    *filterv3.ProcessingMode
		want mode
	}{
		{"no override", nil, baseMode()},
		{"stream responses", &filterv3.ProcessingMode{ResponseBodyMode: streamed},
			mode{reqBody: none, respHeaders: filterv3.ProcessingMode_SEND, respBody: streamed}},
		{"unset body modes mean NONE", &filterv3.ProcessingMode{ResponseHeaderMode: filterv3.ProcessingMode_SKIP},
			mode{reqBody: none, respHeaders: filterv3.ProcessingMode_SKIP, respBody: none}},
		{"full duplex refused", &filterv3.ProcessingMode{ResponseBodyMode: filterv3.ProcessingMode_FULL_DUPLEX_STREAMED}, baseMode()},
		{"keep buffered", &filterv3.ProcessingMode{RequestBodyMode: buffered, ResponseBodyMode: buffered}, baseMode()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := baseMode()
			m.override(tt.o)
			if m != tt.want {
				t.Fatalf("mode %+v, want %+v", m, tt.want)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"defaults", Options{Addr: "127.0.0.1:1"}, nil},
		{"ipv6 loopback", Options{Addr: "[::1]:1"}, nil},
		{"localhost", Options{Addr: "localhost:1"}, nil},
		{"unix socket", Options{Addr: "unix:/tmp/x.sock"}, nil},
		{"remote allowed", Options{Addr: "192.0.2.1:1", AllowRemote: true}, nil},
		{"remote", Options{Addr: "192.0.2.1:1"}, []string{"not a loopback"}},
		{"no port", Options{Addr: "127.0.0.1"}, []string{"missing port"}},
		{"too many workers", Options{Addr: "127.0.0.1:1", Concurrency: MaxConcurrency + 1}, []string{"Concurrency 10001 exceeds"}},
		{"every problem at once", Options{Requests: MaxRequests + 1, Duration: -1, Rate: 2e6, Concurrency: 2, Connections: 3, Chunks: -1},
			[]string{"Addr is required", "Requests", "Duration", "Rate", "Connections (3) exceeds", "Chunks must"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.withDefaults().validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if err := (Options{Addr: "8.8.8.8:1"}).withDefaults().validate(); !errors.Is(err, ErrRemoteTarget) {
		t.Errorf("err = %v, want ErrRemoteTarget", err)
	}
}
