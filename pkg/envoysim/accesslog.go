package envoysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// defaultTextFormat is Envoy's default access log format.
const defaultTextFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ` +
	`"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"` + "\n"

// AccessLogFormat is one stdout/stderr access log of the connection manager.
type AccessLogFormat struct {
	Name string
	// JSON is json_format; when nil, Text is used.
	JSON *structpb.Struct
	Text string
}

func digestAccessLog(al *accesslogv3.AccessLog) (*AccessLogFormat, error) {
	if al.GetFilter() != nil {
		return nil, errors.New("access log filters are not emulated")
	}
	msg, err := unpackValidated(al.GetTypedConfig())
	if err != nil {
		return nil, err
	}
	var format *corev3.SubstitutionFormatString
	switch m := msg.(type) {
	case *streamv3.StdoutAccessLog:
		format = m.GetLogFormat()
	case *streamv3.StderrAccessLog:
		format = m.GetLogFormat()
	default:
		return nil, fmt.Errorf("access logger %T is not emulated", msg)
	}
	out := &AccessLogFormat{Name: al.GetName(), Text: defaultTextFormat}
	if format.GetTextFormatSource() != nil || len(format.GetFormatters()) > 0 {
		return nil, errors.New("text_format_source and formatters are not emulated")
	}
	if js := format.GetJsonFormat(); js != nil {
		out.JSON = js
		return out, checkJSONOperators(js)
	}
	if t := format.GetTextFormat(); t != "" {
		out.Text = t
	}
	return out, checkOperators(out.Text)
}

// accessRecord is what one request leaves for the access log.
type accessRecord struct {
	start                         time.Time
	duration                      time.Duration
	protocol, remoteAddr          string
	req, resp                     *headerMap
	status                        int
	flags                         []string
	details                       string
	routeName                     string
	upstreamCluster, upstreamHost string
	attempts                      int
	bytesReceived, bytesSent      atomic.Int64
	reset                         bool
	metadata                      map[string]*structpb.Struct
}

func (r *accessRecord) addFlag(f string) {
	if f == "" {
		return
	}
	for _, have := range r.flags {
		if have == f {
			return
		}
	}
	r.flags = append(r.flags, f)
}

// accessLog writes one line per configured access log.
func (p *Proxy) accessLog(rec *accessRecord) {
	for _, f := range p.cfg.Listener.AccessLogs {
		line := f.render(rec)
		if p.opts.AccessLog == nil {
			p.logger.Info("access", "log", strings.TrimSuffix(line, "\n"))
			continue
		}
		p.logMu.Lock()
		_, _ = fmt.Fprint(p.opts.AccessLog, line)
		p.logMu.Unlock()
	}
}

func (f *AccessLogFormat) render(rec *accessRecord) string {
	if f.JSON == nil {
		return expandText(f.Text, rec)
	}
	b, err := json.Marshal(renderJSON(f.JSON, rec))
	if err != nil {
		return fmt.Sprintf("{\"error\":%q}\n", err.Error())
	}
	return string(b) + "\n"
}

func renderJSON(s *structpb.Struct, rec *accessRecord) map[string]any {
	out := make(map[string]any, len(s.GetFields()))
	for k, v := range s.GetFields() {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			out[k] = expandJSONValue(x.StringValue, rec)
		case *structpb.Value_StructValue:
			out[k] = renderJSON(x.StructValue, rec)
		default:
			out[k] = v.AsInterface()
		}
	}
	return out
}

// expandJSONValue keeps the type of a value that is exactly one operator
// (numbers stay numbers, metadata stays an object, absent is null), as
// Envoy's typed JSON formatter does.
func expandJSONValue(tmpl string, rec *accessRecord) any {
	if ops := operatorRE.FindAllStringSubmatchIndex(tmpl, -1); len(ops) == 1 && ops[0][0] == 0 && ops[0][1] == len(tmpl) {
		m := operatorRE.FindStringSubmatch(tmpl)
		return evalOperator(m[1], m[3], m[5], rec)
	}
	return expandText(tmpl, rec)
}

func expandText(tmpl string, rec *accessRecord) string {
	return operatorRE.ReplaceAllStringFunc(tmpl, func(op string) string {
		m := operatorRE.FindStringSubmatch(op)
		v := evalOperator(m[1], m[3], m[5], rec)
		switch x := v.(type) {
		case nil:
			return "-"
		case string:
			return x
		default:
			b, _ := json.Marshal(x)
			return string(b)
		}
	})
}

// evalOperator evaluates one command operator; nil means "no value".
func evalOperator(name, arg, maxLen string, rec *accessRecord) any {
	switch name {
	case "START_TIME":
		return rec.start.UTC().Format("2006-01-02T15:04:05.000Z")
	case "DURATION":
		return rec.duration.Milliseconds()
	case "PROTOCOL":
		return rec.protocol
	case "RESPONSE_CODE":
		return rec.status
	case "RESPONSE_FLAGS":
		if len(rec.flags) == 0 {
			return "-"
		}
		return strings.Join(rec.flags, ",")
	case "RESPONSE_CODE_DETAILS":
		return orNil(rec.details)
	case "ROUTE_NAME":
		return orNil(rec.routeName)
	case "UPSTREAM_CLUSTER":
		return orNil(rec.upstreamCluster)
	case "UPSTREAM_HOST", "UPSTREAM_REMOTE_ADDRESS":
		return orNil(rec.upstreamHost)
	case "UPSTREAM_REQUEST_ATTEMPT_COUNT":
		return rec.attempts
	case "BYTES_RECEIVED":
		return rec.bytesReceived.Load()
	case "BYTES_SENT":
		return rec.bytesSent.Load()
	case "DOWNSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_DIRECT_REMOTE_ADDRESS":
		return rec.remoteAddr
	case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT":
		host, _, err := net.SplitHostPort(rec.remoteAddr)
		if err != nil {
			return rec.remoteAddr
		}
		return host
	case "REQ", "RESP":
		return headerOperator(name, arg, maxLen, rec)
	case "DYNAMIC_METADATA":
		return metadataOperator(arg, rec)
	}
	return nil // known to Envoy, not recorded by the stand-in
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// headerOperator implements %REQ(a?b):N% and %RESP(...)%.
func headerOperator(name, arg, maxLen string, rec *accessRecord) any {
	h := rec.req
	if name == "RESP" {
		h = rec.resp
	}
	if h == nil {
		return nil
	}
	for _, n := range strings.Split(arg, "?") {
		if v, ok := h.get(strings.ToLower(n)); ok {
			var limit int
			if _, err := fmt.Sscan(maxLen, &limit); err == nil && limit < len(v) {
				v = v[:limit]
			}
			return v
		}
	}
	return nil
}

// metadataOperator implements %DYNAMIC_METADATA(ns[:key...])%.
func metadataOperator(arg string, rec *accessRecord) any {
	parts := strings.Split(arg, ":")
	s := rec.metadata[parts[0]]
	if s == nil {
		return nil
	}
	var v any = s.AsMap()
	for _, k := range parts[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
