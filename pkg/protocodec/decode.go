package protocodec

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the messages decodeBodyChunk reads
// (envoy/service/ext_proc/v3/external_processor.proto).
const (
	fieldRequestBody  protowire.Number = 4 // ProcessingRequest.request_body
	fieldResponseBody protowire.Number = 5 // ProcessingRequest.response_body
	fieldBody         protowire.Number = 1 // HttpBody.body
	fieldEndOfStream  protowire.Number = 2 // HttpBody.end_of_stream
)

// bodyChunk holds the two messages a body chunk decodes into, allocated
// together.
type bodyChunk struct {
	request  extprocv3.ProcessingRequest_RequestBody
	response extprocv3.ProcessingRequest_ResponseBody
	body     extprocv3.HttpBody
}

// decodeBodyChunk decodes b into req (reset first) when b is the
// message Envoy sends for each body chunk: a ProcessingRequest holding only a
// request_body or response_body, itself holding at most a body and an
// end_of_stream flag, each field once. It reports false, leaving req as it
// was, for anything else (other fields, repeated fields, unknown fields,
// malformed bytes): the general decoder handles those. On true, req is what
// proto.Unmarshal makes of b; the body is copied out of b.
func decodeBodyChunk(b []byte, req *extprocv3.ProcessingRequest) bool {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType || (num != fieldRequestBody && num != fieldResponseBody) {
		return false
	}
	msg, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return false // malformed, or more fields follow
	}
	var (
		body                []byte
		eos, hasBody, hasEO bool
	)
	for len(msg) > 0 {
		f, t, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return false
		}
		msg = msg[n:]
		switch {
		case f == fieldBody && t == protowire.BytesType && !hasBody:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return false
			}
			body, hasBody, msg = v, true, msg[n:]
		case f == fieldEndOfStream && t == protowire.VarintType && !hasEO:
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return false
			}
			eos, hasEO, msg = protowire.DecodeBool(v), true, msg[n:]
		default:
			return false
		}
	}
	req.Reset()
	c := &bodyChunk{}
	c.body.EndOfStream = eos
	if len(body) > 0 {
		c.body.Body = append(make([]byte, 0, len(body)), body...)
	}
	if num == fieldRequestBody {
		c.request.RequestBody = &c.body
		req.Request = &c.request
	} else {
		c.response.ResponseBody = &c.body
		req.Request = &c.response
	}
	return true
}
