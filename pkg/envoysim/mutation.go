package envoysim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// errInvalidMutation marks a mutation Envoy answers with status_on_error
// (as opposed to one it silently ignores).
var errInvalidMutation = errors.New("invalid header mutation")

// maxHeaderCount is Envoy's default max_headers_count.
const maxHeaderCount = 100

// maxHeaderBytes is Envoy's default max_request_headers_kb (60 KiB).
const maxHeaderBytes = 60 * 1024

type checkResult int

const (
	checkOK checkResult = iota
	checkIgnore
	checkFail
)

// routingHeaders may only change with allow_all_routing.
var routingHeaders = map[string]bool{"host": true, ":authority": true, ":method": true, ":scheme": true}

// check applies HeaderMutationRules the way Envoy's mutation_rules Checker
// does; remove is true for removals.
func (r *mutationRules) check(name, value string, remove bool) checkResult {
	if remove && (strings.HasPrefix(name, ":") || name == "host") {
		return r.reject()
	}
	if name == ":status" && !remove {
		if code, err := strconv.Atoi(value); err != nil || code < 200 {
			return r.reject()
		}
	}
	if r.allowed(name) {
		return checkOK
	}
	return r.reject()
}

func (r *mutationRules) reject() checkResult {
	if r.disallowIsError {
		return checkFail
	}
	return checkIgnore
}

func (r *mutationRules) allowed(name string) bool {
	switch {
	case r.disallowExpr != nil && r.disallowExpr.MatchString(name):
		return false
	case r.allowExpr != nil && r.allowExpr.MatchString(name):
		return true
	case r.disallowAll:
		return false
	case !r.allowAllRouting && routingHeaders[name]:
		return false
	case r.disallowSystem && strings.HasPrefix(name, ":"):
		return false
	case !r.allowEnvoy && strings.HasPrefix(name, "x-envoy"):
		return false
	}
	return true
}

// permissiveRules check immediate-response headers, which Envoy lets a
// processor shape freely apart from removals of system headers.
func permissiveRules() *mutationRules {
	return &mutationRules{allowAllRouting: true, allowEnvoy: true}
}

// mutationOutcome counts what was rejected so the caller can feed stats.
type mutationOutcome struct {
	rejected int
}

// applyHeaderMutation applies remove_headers then set_headers like Envoy's
// MutationUtils::applyHeaderMutations. Disallowed changes are skipped and
// counted; an error (wrapping errInvalidMutation) means Envoy would answer
// with status_on_error. replacing allows :method under CONTINUE_AND_REPLACE.
func applyHeaderMutation(h *headerMap, m *extprocv3.HeaderMutation, rules *mutationRules, replacing bool) (mutationOutcome, error) {
	var out mutationOutcome
	if m == nil {
		return out, nil
	}
	if len(m.GetRemoveHeaders()) > maxHeaderCount || len(m.GetSetHeaders()) > maxHeaderCount {
		out.rejected++
		return out, fmt.Errorf("%w: more than %d headers in one mutation", errInvalidMutation, maxHeaderCount)
	}
	for _, name := range m.GetRemoveHeaders() {
		if !validHeaderName(name) {
			out.rejected++
			return out, fmt.Errorf("%w: invalid character in remove_headers", errInvalidMutation)
		}
		name = strings.ToLower(name)
		switch rules.check(name, "", true) {
		case checkOK:
			h.del(name)
		case checkIgnore:
			out.rejected++
		case checkFail:
			out.rejected++
			return out, fmt.Errorf("%w: invalid attempt to remove %s", errInvalidMutation, name)
		}
	}
	for _, opt := range m.GetSetHeaders() {
		if err := applySetHeader(h, opt, rules, replacing, &out); err != nil {
			return out, err
		}
	}
	if len(h.list) > maxHeaderCount || h.byteSize() > maxHeaderBytes {
		out.rejected++
		return out, fmt.Errorf("%w: headers exceed the connection manager limits", errInvalidMutation)
	}
	return out, nil
}

func applySetHeader(h *headerMap, opt *corev3.HeaderValueOption, rules *mutationRules, replacing bool, out *mutationOutcome) error {
	hv := opt.GetHeader()
	if hv == nil {
		return nil
	}
	if hv.GetValue() != "" && len(hv.GetRawValue()) > 0 {
		out.rejected++
		return fmt.Errorf("%w: only one of value or raw_value may be set", errInvalidMutation)
	}
	if opt.GetAppend() != nil && opt.GetAppendAction() != corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
		out.rejected++
		return fmt.Errorf("%w: append and append_action are both set", errInvalidMutation)
	}
	// Envoy reads raw_value only: a header set through value arrives empty.
	value := string(hv.GetRawValue())
	name := hv.GetKey()
	if !validHeaderName(name) || !validHeaderValue(value) {
		out.rejected++
		return fmt.Errorf("%w: invalid character in set_headers", errInvalidMutation)
	}
	name = strings.ToLower(name)
	appendMode, apply, err := appendSemantics(opt, h.has(name))
	if err != nil {
		out.rejected++
		return err
	}
	if !apply {
		return nil
	}
	res := rules.check(name, value, false)
	if replacing && name == ":method" {
		res = checkOK
	}
	switch res {
	case checkIgnore:
		out.rejected++
		return nil
	case checkFail:
		out.rejected++
		return fmt.Errorf("%w: invalid attempt to modify %s", errInvalidMutation, name)
	}
	if appendMode {
		h.add(name, value)
	} else {
		h.set(name, value)
	}
	return nil
}

// appendSemantics resolves append_action with the deprecated append field as
// fallback (unset append means overwrite in ext_proc). apply is false when
// the action does not touch the header at all.
func appendSemantics(opt *corev3.HeaderValueOption, exists bool) (appendMode, apply bool, err error) {
	switch a := opt.GetAppendAction(); a {
	case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
		return opt.GetAppend().GetValue(), true, nil
	case corev3.HeaderValueOption_ADD_IF_ABSENT:
		return true, !exists, nil
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
		return false, true, nil
	case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
		return false, exists, nil
	default:
		return false, false, fmt.Errorf("%w: unknown append_action %d", errInvalidMutation, a)
	}
}
