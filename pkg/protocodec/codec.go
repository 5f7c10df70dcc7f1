// Package protocodec is the gRPC codec of the ext_proc server: protobuf, as
// gRPC's default codec, but encoding with the marshalling code that
// go-control-plane generates for Envoy's messages (vtprotobuf's
// MarshalToSizedBufferVTStrict and SizeVT) rather than protobuf's reflection.
// It also decodes the messages Envoy sends most, headers and body messages,
// with a small decoder of its own (decode.go). The server answers every chunk
// of a streamed response, so both run thousands of times per request. Other
// messages go through gRPC's default codec.
//
// One difference from the default codec: the generated code does not check
// that string fields hold valid UTF-8, which protobuf's reflection does on
// encoding. The sidecar's strings are constants, configuration or header names
// it decoded (and so checked); header values travel as bytes.
package protocodec

import (
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// vtMessage is what go-control-plane generates for each message (its
// vtprotobuf "strict" marshalling: fields in number order, as proto.Marshal
// writes them with Deterministic unset).
type vtMessage interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict(dst []byte) (int, error)
}

// Generated reports whether the binary has go-control-plane's generated
// marshalling code, which is built only with the build tag vtprotobuf (the
// Makefile and the Dockerfile set it). Without it the codec encodes with
// protobuf's reflection, as gRPC's default codec does: correct, slower.
func Generated() bool {
	_, ok := any((*extprocv3.ProcessingResponse)(nil)).(vtMessage)
	return ok
}

// Codec encodes go-control-plane messages with their generated code and
// delegates everything else to the codec it wraps.
type Codec struct {
	fallback encoding.CodecV2
}

// New returns the codec; register it on a server with grpc.ForceServerCodecV2.
func New() *Codec {
	return &Codec{fallback: encoding.GetCodecV2("proto")}
}

// Name is the content subtype: still "proto", the wire format is the same.
func (c *Codec) Name() string { return "proto" }

// Marshal encodes v as gRPC's default codec would (for valid messages, byte
// for byte but for the order of map entries), in a buffer from gRPC's pool
// above 1 KiB, which gRPC returns there once the message is written.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(vtMessage)
	if !ok {
		return c.fallback.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		// As gRPC's codec does: below its threshold (1 KiB) a new slice
		// costs less than a trip through the pool.
		buf := make([]byte, size)
		if err := marshalTo(m, buf); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	if err := marshalTo(m, (*buf)[:size]); err != nil {
		pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// marshalTo encodes m into buf, which is exactly m's size.
func marshalTo(m vtMessage, buf []byte) error {
	n, err := m.MarshalToSizedBufferVTStrict(buf)
	if err != nil {
		return err
	}
	if n != len(buf) {
		return fmt.Errorf("protocodec: %T encoded %d bytes, sized %d", m, n, len(buf))
	}
	return nil
}

// Unmarshal decodes Envoy's headers and body messages itself and everything
// else as the default codec does (proto.Unmarshal over contiguous bytes).
// Neither keeps a reference to data, which gRPC reuses.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*extprocv3.ProcessingRequest)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	if len(data) == 1 { // the message came in one HTTP/2 frame: no copy
		return decode(data[0].ReadOnlyData(), req)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return decode(buf.ReadOnlyData(), req)
}

func decode(b []byte, req *extprocv3.ProcessingRequest) error {
	if decodeRequest(b, req) {
		return nil
	}
	return proto.Unmarshal(b, req)
}
