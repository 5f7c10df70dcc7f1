package envoysim

import (
	"fmt"
	"strconv"
	"strings"

	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// headersAnswer is what a headers answer decided beyond header mutations.
type headersAnswer struct {
	// replaced is set by CONTINUE_AND_REPLACE with a body_mutation: the
	// message body becomes body and no more body messages follow.
	replaced bool
	body     []byte
}

// applyHeadersAnswer applies the answer to a headers message of direction d
// to h, like ProcessorState::handleHeadersResponse.
func (ex *exchange) applyHeadersAnswer(d direction, resp *extprocv3.ProcessingResponse, h *headerMap) (headersAnswer, *procError) {
	var out headersAnswer
	if ov := resp.GetModeOverride(); ov != nil && !ex.mode.override(ov, ex.proc.cfg) {
		ex.p.logger.Debug("envoysim: mode_override ignored", "direction", d.String())
	}
	var cr *extprocv3.CommonResponse
	if d == dirRequest {
		cr = resp.GetRequestHeaders().GetResponse()
	} else {
		cr = resp.GetResponseHeaders().GetResponse()
	}
	replacing := cr.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE
	if perr := ex.applyHeaderMutation(h, cr.GetHeaderMutation(), replacing); perr != nil {
		return out, perr
	}
	if d == dirRequest {
		ex.maybeClearRouteCache(cr)
	}
	if replacing {
		if bm := cr.GetBodyMutation(); bm != nil {
			h.del("content-length")
			out.replaced, out.body = true, mutateBody(nil, bm)
		}
		ex.mode.body[d] = extprocfilterv3.ProcessingMode_NONE
	}
	return out, nil
}

// applyBodyAnswer applies the answer to a BUFFERED or BUFFERED_PARTIAL body
// message. h is non-nil while the headers are still held (they can still be
// mutated); strictLength enables BUFFERED's content-length check.
func (ex *exchange) applyBodyAnswer(d direction, resp *extprocv3.ProcessingResponse, h *headerMap, body []byte, strictLength bool) ([]byte, *procError) {
	cr := bodyCommon(d, resp)
	if h != nil {
		if perr := ex.applyHeaderMutation(h, cr.GetHeaderMutation(), false); perr != nil {
			return nil, perr
		}
	}
	if bm := cr.GetBodyMutation(); bm != nil {
		if strictLength && h != nil {
			if cl, ok := h.get("content-length"); ok {
				if n, err := strconv.Atoi(cl); err == nil && n != len(bm.GetBody()) {
					return nil, &procError{kind: procInvalid, detail: "mismatch between content length and the length of the mutated body"}
				}
			}
		}
		body = mutateBody(body, bm)
	}
	if d == dirRequest {
		ex.maybeClearRouteCache(cr)
	}
	return body, nil
}

func bodyCommon(d direction, resp *extprocv3.ProcessingResponse) *extprocv3.CommonResponse {
	if d == dirRequest {
		return resp.GetRequestBody().GetResponse()
	}
	return resp.GetResponseBody().GetResponse()
}

func (ex *exchange) applyHeaderMutation(h *headerMap, m *extprocv3.HeaderMutation, replacing bool) *procError {
	if m == nil {
		return nil
	}
	res, err := applyHeaderMutation(h, m, ex.proc.cfg.rules, replacing)
	if res.rejected > 0 {
		ex.p.stats.add(ex.p.extProcStat("rejected_header_mutations"), uint64(res.rejected))
	}
	if err != nil {
		return &procError{kind: procInvalid, detail: err.Error()}
	}
	return nil
}

// mutateBody applies a body mutation to data (streamed_response only
// applies to FULL_DUPLEX_STREAMED, which is not emulated).
func mutateBody(data []byte, bm *extprocv3.BodyMutation) []byte {
	switch m := bm.GetMutation().(type) {
	case *extprocv3.BodyMutation_Body:
		return append([]byte(nil), m.Body...)
	case *extprocv3.BodyMutation_ClearBody:
		if m.ClearBody {
			return nil
		}
	}
	return data
}

// maybeClearRouteCache re-runs route selection when the processor asks, in
// an answer that also mutates headers, as DecodingProcessorState does.
func (ex *exchange) maybeClearRouteCache(cr *extprocv3.CommonResponse) {
	if cr.GetHeaderMutation() == nil {
		if cr.GetClearRouteCache() {
			ex.p.stats.inc(ex.p.extProcStat("clear_route_cache_ignored"))
		}
		return
	}
	switch ex.proc.cfg.RouteCacheAction {
	case extprocfilterv3.ExternalProcessor_CLEAR:
		ex.selectRoute()
	case extprocfilterv3.ExternalProcessor_RETAIN:
		if cr.GetClearRouteCache() {
			ex.p.stats.inc(ex.p.extProcStat("clear_route_cache_disabled"))
		}
	default:
		if cr.GetClearRouteCache() {
			ex.selectRoute()
		}
	}
}

// procReply maps a stopped session to Envoy's next step; nil means carry on
// without ext_proc.
func (ex *exchange) procReply(e *procError) *localReply {
	cfg := ex.p.cfg.Listener.ExtProc
	switch e.kind {
	case procClosedOK:
		return nil
	case procImmediate:
		return immediateReply(e.immediate)
	case procCancelled:
		return &localReply{reset: true, flag: "DC", details: "downstream_remote_disconnect"}
	case procInvalid:
		return &localReply{status: cfg.StatusOnError, details: "ext_proc_error_" + detailsToken(e.detail)}
	}
	if cfg.FailureModeAllow {
		return nil
	}
	switch e.kind {
	case procTimeout:
		return &localReply{status: 504, details: "ext_proc_error_per-message_timeout_exceeded"}
	case procSpurious:
		return &localReply{status: 500, details: "ext_proc_error_spurious_message"}
	default:
		return &localReply{status: cfg.StatusOnError, details: fmt.Sprintf("ext_proc_error_gRPC_error_%d", e.code)}
	}
}

// immediateReply turns an ImmediateResponse into a local reply sent straight
// to the client (ext_proc does not see its own replies).
func immediateReply(ir *extprocv3.ImmediateResponse) *localReply {
	code := int(ir.GetStatus().GetCode())
	if code < 200 {
		code = 200
	}
	return &localReply{
		status:    code,
		body:      string(ir.GetBody()),
		details:   detailsToken(ir.GetDetails()),
		mutations: ir.GetHeaders(),
	}
}

// detailsToken mirrors StringUtil::replaceAllEmptySpace for response details.
func detailsToken(s string) string {
	return strings.Join(strings.Fields(s), "_")
}
