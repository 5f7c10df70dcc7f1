package telemetry

import (
	"io"
	"log/slog"
	"sort"
	"strings"
)

// Redacted replaces the value of a sensitive header in logs.
const Redacted = "[redacted]"

// NewLogger returns a JSON logger writing to w at level ("debug", "info",
// "warn" or "error", case-insensitive; anything else means info, since the
// config package has already rejected invalid levels).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// SensitiveHeader reports whether a header's value must never be logged:
// credentials, cookies, and anything whose name suggests a secret. It errs on
// the side of hiding: an over-redacted log line is cheaper than a leaked key.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie",
		"x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token":
		return true
	}
	for _, part := range []string{"auth", "token", "secret", "password", "api-key", "apikey", "session", "credential"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// RedactHeaders returns a copy of h with sensitive values replaced by Redacted.
func RedactHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if SensitiveHeader(k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// Headers logs a header map with sensitive values redacted, in name order.
// The work happens only when a record is actually written:
//
//	log.Debug("request headers", "headers", telemetry.Headers(hdr))
type Headers map[string]string

// LogValue implements slog.LogValuer.
func (h Headers) LogValue() slog.Value {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	attrs := make([]slog.Attr, len(names))
	for i, k := range names {
		v := h[k]
		if SensitiveHeader(k) {
			v = Redacted
		}
		attrs[i] = slog.String(k, v)
	}
	return slog.GroupValue(attrs...)
}

// ContentAttr returns key=value only when content logging is enabled
// (telemetry.log_content); otherwise an empty attribute, which slog handlers
// drop, so prompts and outputs cannot reach the log by accident.
func ContentAttr(enabled bool, key, value string) slog.Attr {
	if !enabled {
		return slog.Attr{}
	}
	return slog.String(key, value)
}
