package envoysim

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// localReply is a response Envoy generates itself.
type localReply struct {
	status  int
	body    string
	details string
	// flag is the access-log response flag (UF, NC, FI, ...).
	flag string
	// mutations are an immediate response's headers.
	mutations *extprocv3.HeaderMutation
	// viaFilters marks replies from the filter manager or filters after
	// ext_proc (buffer limit, fault, router): they still pass through
	// ext_proc's response path, while ext_proc's own replies do not.
	viaFilters bool
	// reset aborts the downstream stream instead of answering.
	reset bool
}

// headers builds the reply's header map like Utility::sendLocalReply:
// mutations first, then content-length and a default text/plain type.
func (lr *localReply) headers() *headerMap {
	h := &headerMap{}
	h.add(":status", strconv.Itoa(lr.status))
	if lr.mutations != nil {
		// Immediate responses may shape any header; errors are ignored as in Envoy.
		_, _ = applyHeaderMutation(h, lr.mutations, permissiveRules(), false)
		if h.value(":status") != strconv.Itoa(lr.status) {
			h.set(":status", strconv.Itoa(lr.status))
		}
	}
	if lr.body != "" {
		h.set("content-length", strconv.Itoa(len(lr.body)))
		if !h.has("content-type") {
			h.set("content-type", "text/plain")
		}
	}
	return h
}

// asResponse presents a filter's local reply to the response path.
func (lr *localReply) asResponse() *upstreamResponse {
	up := &upstreamResponse{headers: lr.headers(), noBody: lr.body == ""}
	if !up.noBody {
		up.body = io.NopCloser(bytes.NewReader([]byte(lr.body)))
	}
	return up
}

// respondLocal sends a local reply, or resets the stream when the response
// already started (Envoy cannot replace a response in flight).
func (ex *exchange) respondLocal(lr *localReply) {
	ex.log.addFlag(lr.flag)
	if lr.details != "" {
		ex.log.details = lr.details
	}
	if lr.reset || ex.respStarted {
		ex.resetStream()
	}
	if lr.viaFilters && ex.procActive() {
		ex.encode(lr.asResponse())
		return
	}
	ex.writeHeaders(lr.headers())
	if lr.body != "" {
		_, _ = io.WriteString(ex.w, lr.body)
	}
}

// writeHeaders sends the final response headers downstream.
func (ex *exchange) writeHeaders(h *headerMap) {
	status, err := strconv.Atoi(h.value(":status"))
	if err != nil || status < 100 || status > 999 {
		status = http.StatusBadGateway
	}
	dst := ex.w.Header()
	h.toHTTPHeader(dst)
	// The connection manager's server_header_transformation default (OVERWRITE).
	dst.Set("Server", "envoy")
	ex.w.WriteHeader(status)
	ex.respStarted = true
	ex.log.status = status
	ex.log.resp = h
}

// resetStream aborts the downstream request: net/http closes the connection
// (HTTP/1) or resets the stream (HTTP/2) without a response.
func (ex *exchange) resetStream() {
	ex.log.reset = true
	panic(http.ErrAbortHandler)
}
