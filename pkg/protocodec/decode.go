package protocodec

import (
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/protowire"
)

// The fast decoder. proto.Unmarshal walks a message by reflection and
// allocates every sub-message, header and string on its own; Envoy sends a
// handful of shapes thousands of times per second. decodeRequest reads those
// shapes directly, with a few allocations per message, and gives up on
// anything else, which the general decoder then reads. Whatever it accepts it
// decodes exactly as proto.Unmarshal does (FuzzDecodeRequest checks this).

// Field numbers (envoy/service/ext_proc/v3/external_processor.proto,
// envoy/config/core/v3/base.proto).
const (
	// ProcessingRequest
	fieldRequestHeaders  protowire.Number = 2
	fieldResponseHeaders protowire.Number = 3
	fieldRequestBody     protowire.Number = 4
	fieldResponseBody    protowire.Number = 5
	fieldMetadataContext protowire.Number = 8
	fieldProtocolConfig  protowire.Number = 11
	// HttpBody
	fieldBody    protowire.Number = 1
	fieldBodyEnd protowire.Number = 2
	// HttpHeaders
	fieldHeaderMap  protowire.Number = 1
	fieldHeadersEnd protowire.Number = 3
	// HeaderMap
	fieldHeaderValue protowire.Number = 1
	// HeaderValue
	fieldKey      protowire.Number = 1
	fieldValue    protowire.Number = 2
	fieldRawValue protowire.Number = 3
	// ProtocolConfiguration
	fieldRequestBodyMode  protowire.Number = 1
	fieldResponseBodyMode protowire.Number = 2
	fieldSendBodyEarly    protowire.Number = 3
)

// headerParts and bodyParts are the sub-messages of a headers or a body
// message, allocated together.
type headerParts struct {
	request   extprocv3.ProcessingRequest_RequestHeaders
	response  extprocv3.ProcessingRequest_ResponseHeaders
	headers   extprocv3.HttpHeaders
	headerMap corev3.HeaderMap
	metadata  corev3.Metadata
}

type bodyParts struct {
	request  extprocv3.ProcessingRequest_RequestBody
	response extprocv3.ProcessingRequest_ResponseBody
	body     extprocv3.HttpBody
	metadata corev3.Metadata
}

// decodeRequest decodes b into req (reset first) when b is a
// ProcessingRequest with one of request_headers, response_headers,
// request_body or response_body, optionally an empty metadata_context (Envoy
// sends one with every message) and a protocol_config, each field once, and
// nothing else. It reports false, leaving req as it was, for anything else
// (trailers, attributes, non-empty metadata, repeated or unknown fields,
// invalid UTF-8 in a string, malformed bytes). Bytes are copied out of b.
func decodeRequest(b []byte, req *extprocv3.ProcessingRequest) bool {
	var (
		kind                 protowire.Number
		payload, protocol    []byte
		hasMeta, hasProtocol bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 {
			return false
		}
		b = b[n+m:]
		switch num {
		case fieldRequestHeaders, fieldResponseHeaders, fieldRequestBody, fieldResponseBody:
			if kind != 0 {
				return false
			}
			kind, payload = num, v
		case fieldMetadataContext:
			if hasMeta || len(v) != 0 {
				return false
			}
			hasMeta = true
		case fieldProtocolConfig:
			if hasProtocol {
				return false
			}
			protocol, hasProtocol = v, true
		default:
			return false
		}
	}
	var protocolConfig *extprocv3.ProtocolConfiguration
	if hasProtocol {
		protocolConfig = &extprocv3.ProtocolConfiguration{}
		if !decodeProtocol(protocol, protocolConfig) {
			return false
		}
	}
	var metadata *corev3.Metadata
	switch kind {
	case fieldRequestHeaders, fieldResponseHeaders:
		p := &headerParts{}
		if !decodeHeaders(payload, &p.headers, &p.headerMap) {
			return false
		}
		req.Reset()
		if kind == fieldRequestHeaders {
			p.request.RequestHeaders, req.Request = &p.headers, &p.request
		} else {
			p.response.ResponseHeaders, req.Request = &p.headers, &p.response
		}
		metadata = &p.metadata
	case fieldRequestBody, fieldResponseBody:
		p := &bodyParts{}
		if !decodeBody(payload, &p.body) {
			return false
		}
		req.Reset()
		if kind == fieldRequestBody {
			p.request.RequestBody, req.Request = &p.body, &p.request
		} else {
			p.response.ResponseBody, req.Request = &p.body, &p.response
		}
		metadata = &p.metadata
	default:
		return false
	}
	if hasMeta {
		req.MetadataContext = metadata
	}
	req.ProtocolConfig = protocolConfig
	return true
}

// fields walks the fields of a message, calling f with each, and reports
// whether it got to the end: it stops at the first false from f, a malformed
// field, a wire type other than bytes or varint, a field number of 64 or more
// (none of the messages read here has one), or a second occurrence of any
// number but repeated.
func fields(b []byte, repeated protowire.Number, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) bool) bool {
	var seen uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num >= 64 {
			return false
		}
		b = b[n:]
		if num != repeated {
			if seen&(1<<num) != 0 {
				return false
			}
			seen |= 1 << num
		}
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			return false
		}
		if n < 0 || !f(num, typ, v, x) {
			return false
		}
		b = b[n:]
	}
	return true
}

// decodeBody reads an HttpBody: body, end_of_stream.
func decodeBody(b []byte, body *extprocv3.HttpBody) bool {
	return fields(b, 0, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) bool {
		switch {
		case num == fieldBody && typ == protowire.BytesType:
			if len(v) > 0 {
				body.Body = append(make([]byte, 0, len(v)), v...)
			}
		case num == fieldBodyEnd && typ == protowire.VarintType:
			body.EndOfStream = protowire.DecodeBool(x)
		default:
			return false
		}
		return true
	})
}

// decodeHeaders reads an HttpHeaders: a HeaderMap, end_of_stream. The
// headers' raw values share one copy of the header list; each is capped at its
// own length, so appending to one cannot overwrite the next.
func decodeHeaders(b []byte, h *extprocv3.HttpHeaders, hm *corev3.HeaderMap) bool {
	var list []byte
	hasMap := false
	ok := fields(b, 0, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) bool {
		switch {
		case num == fieldHeaderMap && typ == protowire.BytesType:
			list, hasMap = v, true
		case num == fieldHeadersEnd && typ == protowire.VarintType:
			h.EndOfStream = protowire.DecodeBool(x)
		default:
			return false
		}
		return true
	})
	if !ok {
		return false
	}
	if !hasMap {
		return true
	}
	n := 0
	if !fields(list, fieldHeaderValue, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) bool {
		n++
		return num == fieldHeaderValue && typ == protowire.BytesType
	}) {
		return false
	}
	if n > 0 {
		own := append(make([]byte, 0, len(list)), list...)
		values := make([]corev3.HeaderValue, n)
		hm.Headers = make([]*corev3.HeaderValue, n)
		i := 0
		if !fields(own, fieldHeaderValue, func(_ protowire.Number, _ protowire.Type, v []byte, _ uint64) bool {
			hv := &values[i]
			hm.Headers[i] = hv
			i++
			return decodeHeaderValue(v, hv)
		}) {
			return false
		}
	}
	h.Headers = hm
	return true
}

// decodeHeaderValue reads a HeaderValue: key, value, raw_value.
func decodeHeaderValue(b []byte, hv *corev3.HeaderValue) bool {
	return fields(b, 0, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		if typ != protowire.BytesType {
			return false
		}
		switch num {
		case fieldKey, fieldValue:
			if !utf8.Valid(v) {
				return false // proto.Unmarshal rejects it
			}
			if num == fieldKey {
				hv.Key = headerName(v)
			} else {
				hv.Value = string(v)
			}
		case fieldRawValue:
			if len(v) > 0 {
				hv.RawValue = v[:len(v):len(v)]
			}
		default:
			return false
		}
		return true
	})
}

// decodeProtocol reads a ProtocolConfiguration: the two body modes and
// send_body_without_waiting_for_header_response.
func decodeProtocol(b []byte, p *extprocv3.ProtocolConfiguration) bool {
	return fields(b, 0, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) bool {
		if typ != protowire.VarintType {
			return false
		}
		switch num {
		case fieldRequestBodyMode:
			p.RequestBodyMode = filterv3.ProcessingMode_BodySendMode(int32(x))
		case fieldResponseBodyMode:
			p.ResponseBodyMode = filterv3.ProcessingMode_BodySendMode(int32(x))
		case fieldSendBodyEarly:
			p.SendBodyWithoutWaitingForHeaderResponse = protowire.DecodeBool(x)
		default:
			return false
		}
		return true
	})
}

// headerName returns name as a string, without allocating for the names most
// requests and responses carry.
func headerName(name []byte) string {
	switch string(name) { // compiled to comparisons, no conversion
	case ":authority":
		return ":authority"
	case ":path":
		return ":path"
	case ":method":
		return ":method"
	case ":scheme":
		return ":scheme"
	case ":status":
		return ":status"
	case "accept":
		return "accept"
	case "accept-encoding":
		return "accept-encoding"
	case "authorization":
		return "authorization"
	case "cache-control":
		return "cache-control"
	case "connection":
		return "connection"
	case "content-encoding":
		return "content-encoding"
	case "content-length":
		return "content-length"
	case "content-type":
		return "content-type"
	case "date":
		return "date"
	case "server":
		return "server"
	case "transfer-encoding":
		return "transfer-encoding"
	case "user-agent":
		return "user-agent"
	case "traceparent":
		return "traceparent"
	case "tracestate":
		return "tracestate"
	case "x-api-key":
		return "x-api-key"
	case "x-envoy-attempt-count":
		return "x-envoy-attempt-count"
	case "x-envoy-expected-rq-timeout-ms":
		return "x-envoy-expected-rq-timeout-ms"
	case "x-envoy-upstream-service-time":
		return "x-envoy-upstream-service-time"
	case "x-forwarded-for":
		return "x-forwarded-for"
	case "x-forwarded-proto":
		return "x-forwarded-proto"
	case "x-request-id":
		return "x-request-id"
	case "openai-organization":
		return "openai-organization"
	case "openai-processing-ms":
		return "openai-processing-ms"
	case "openai-version":
		return "openai-version"
	case "x-ratelimit-limit-requests":
		return "x-ratelimit-limit-requests"
	case "x-ratelimit-limit-tokens":
		return "x-ratelimit-limit-tokens"
	case "x-ratelimit-remaining-requests":
		return "x-ratelimit-remaining-requests"
	case "x-ratelimit-remaining-tokens":
		return "x-ratelimit-remaining-tokens"
	case "x-ratelimit-reset-requests":
		return "x-ratelimit-reset-requests"
	case "x-ratelimit-reset-tokens":
		return "x-ratelimit-reset-tokens"
	}
	return string(name)
}
