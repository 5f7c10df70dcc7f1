package envoysim

import (
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
)

type direction int

const (
	dirRequest direction = iota
	dirResponse
)

func (d direction) String() string {
	if d == dirRequest {
		return "request"
	}
	return "response"
}

// procMode is the processing mode in effect for one request, per direction.
type procMode struct {
	sendHeaders [2]bool
	body        [2]extprocfilterv3.ProcessingMode_BodySendMode
}

func modeFromConfig(m *extprocfilterv3.ProcessingMode) procMode {
	return procMode{
		// Headers default to SEND, so only SKIP turns them off.
		sendHeaders: [2]bool{
			m.GetRequestHeaderMode() != extprocfilterv3.ProcessingMode_SKIP,
			m.GetResponseHeaderMode() != extprocfilterv3.ProcessingMode_SKIP,
		},
		body: [2]extprocfilterv3.ProcessingMode_BodySendMode{m.GetRequestBodyMode(), m.GetResponseBodyMode()},
	}
}

// override applies a mode_override from a header answer. Header modes left
// at DEFAULT stay unchanged but body modes are copied as given, so an
// override that omits a body mode turns that body off. It reports whether
// the override was accepted.
func (pm *procMode) override(ov *extprocfilterv3.ProcessingMode, cfg *ExtProc) bool {
	if ov == nil || !cfg.AllowModeOverride {
		return false
	}
	for _, b := range []extprocfilterv3.ProcessingMode_BodySendMode{ov.GetRequestBodyMode(), ov.GetResponseBodyMode(), pm.body[0], pm.body[1]} {
		if b == extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED {
			return false
		}
	}
	if len(cfg.AllowedOverrideModes) > 0 && !overrideAllowed(ov, cfg.AllowedOverrideModes) {
		return false
	}
	setHeaderMode(&pm.sendHeaders[dirRequest], ov.GetRequestHeaderMode())
	setHeaderMode(&pm.sendHeaders[dirResponse], ov.GetResponseHeaderMode())
	pm.body[dirRequest] = ov.GetRequestBodyMode()
	pm.body[dirResponse] = ov.GetResponseBodyMode()
	return true
}

func setHeaderMode(dst *bool, m extprocfilterv3.ProcessingMode_HeaderSendMode) {
	switch m {
	case extprocfilterv3.ProcessingMode_SEND:
		*dst = true
	case extprocfilterv3.ProcessingMode_SKIP:
		*dst = false
	}
}

// overrideAllowed compares against allowed_override_modes, ignoring the
// request header mode, which an override can no longer affect.
func overrideAllowed(ov *extprocfilterv3.ProcessingMode, allowed []*extprocfilterv3.ProcessingMode) bool {
	for _, a := range allowed {
		if a.GetRequestBodyMode() == ov.GetRequestBodyMode() &&
			a.GetRequestTrailerMode() == ov.GetRequestTrailerMode() &&
			a.GetResponseHeaderMode() == ov.GetResponseHeaderMode() &&
			a.GetResponseBodyMode() == ov.GetResponseBodyMode() &&
			a.GetResponseTrailerMode() == ov.GetResponseTrailerMode() {
			return true
		}
	}
	return false
}

// removesContentLength mirrors ProcessorState::shouldRemoveContentLength:
// in these modes the processor can change the body size without being able
// to fix the header.
func (pm procMode) removesContentLength(d direction) bool {
	switch pm.body[d] {
	case extprocfilterv3.ProcessingMode_STREAMED, extprocfilterv3.ProcessingMode_BUFFERED_PARTIAL,
		extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		return true
	case extprocfilterv3.ProcessingMode_BUFFERED:
		return !pm.sendHeaders[d]
	}
	return false
}
