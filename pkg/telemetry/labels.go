package telemetry

import (
	"strconv"
	"sync/atomic"
)

// Label values used when a traffic-supplied value cannot be used as is.
const (
	// LabelOther replaces any value not listed in the configuration.
	LabelOther = "other"
	// LabelNone stands for a value that is not known yet, such as the consumer
	// of a request rejected before authentication.
	LabelNone = "none"
)

// KnownLabels lists the label values the configuration allows. Anything else
// is reported as LabelOther, which bounds the number of series no matter what
// clients send.
type KnownLabels struct {
	// Consumers are configured consumer ids (never keys).
	Consumers []string
	// Models are the client-facing model names and the providers' deployment
	// model names (gen_ai_request_model carries the latter).
	Models []string
	// Providers are configured provider names.
	Providers []string
}

// labelGuard maps a label value to itself when configured and to LabelOther
// otherwise. The set is swapped whole on reload, so readers never lock.
type labelGuard struct {
	known atomic.Pointer[map[string]string]
}

// set replaces the allowed values and returns the ones that were dropped.
func (g *labelGuard) set(values []string) (removed []string) {
	m := make(map[string]string, len(values))
	for _, v := range values {
		if v != "" {
			// A private copy: the caller's string may share memory with a much
			// larger buffer, and label values live as long as their series.
			m[v] = string([]byte(v))
		}
	}
	if old := g.known.Swap(&m); old != nil {
		for v := range *old {
			if _, ok := m[v]; !ok {
				removed = append(removed, v)
			}
		}
	}
	return removed
}

// value returns the label value to record for v.
func (g *labelGuard) value(v string) string {
	if v == "" {
		return LabelNone
	}
	if m := g.known.Load(); m != nil {
		if canon, ok := (*m)[v]; ok {
			// The canonical copy, not v, so series never pin request buffers.
			return canon
		}
	}
	return LabelOther
}

// statusClass maps an HTTP status to its class label. Zero means no response
// was sent (the client went away or the stream was reset).
func statusClass(code int) string {
	switch {
	case code == 0:
		return LabelNone
	case code >= 100 && code < 200:
		return "1xx"
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500 && code < 600:
		return "5xx"
	default:
		return LabelOther
	}
}

// errorTypes holds the error_type label for every upstream HTTP status, built
// once so the hot path never formats numbers.
type errorTypes [600]string

func newErrorTypes() *errorTypes {
	var t errorTypes
	for code := 400; code < len(t); code++ {
		t[code] = strconv.Itoa(code)
	}
	return &t
}

// of returns the semconv error.type for an upstream status: "" for success,
// the status code for HTTP errors, and a fixed word when no response came.
func (t *errorTypes) of(status int) string {
	switch {
	case status == 0:
		return "no_response"
	case status < 0 || status >= len(t):
		return "_OTHER"
	default:
		return t[status]
	}
}
