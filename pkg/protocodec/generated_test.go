//go:build vtprotobuf

package protocodec

import (
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// Built with the tag (as `make test` builds), the messages the server sends
// must have go-control-plane's generated marshalling: if an upgrade renamed or
// dropped it, the codec would fall back to reflection without a word.
func TestGeneratedMarshallingIsCompiledIn(t *testing.T) {
	if !Generated() {
		t.Fatal("built with -tags vtprotobuf, but ProcessingResponse has no MarshalToSizedBufferVTStrict/SizeVT")
	}
	for _, m := range []any{&extprocv3.ProcessingResponse{}, &extprocv3.BodyResponse{}, &extprocv3.HeadersResponse{}, &extprocv3.ImmediateResponse{}} {
		if _, ok := m.(vtMessage); !ok {
			t.Errorf("%T has no generated marshalling", m)
		}
	}
}
