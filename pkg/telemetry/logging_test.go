package telemetry

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNewLoggerLevels(t *testing.T) {
	tests := []struct {
		level     string
		debugOn   bool
		infoOn    bool
		warnOn    bool
		wantLevel slog.Level
	}{
		{"debug", true, true, true, slog.LevelDebug},
		{"info", false, true, true, slog.LevelInfo},
		{"WARN", false, false, true, slog.LevelWarn},
		{"error", false, false, false, slog.LevelError},
		{"", false, true, true, slog.LevelInfo},
		{"loud", false, true, true, slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log := NewLogger(&buf, tt.level)
			log.Debug("d")
			log.Info("i")
			log.Warn("w")
			out := buf.String()
			for msg, want := range map[string]bool{`"msg":"d"`: tt.debugOn, `"msg":"i"`: tt.infoOn, `"msg":"w"`: tt.warnOn} {
				if strings.Contains(out, msg) != want {
					t.Errorf("%s logged = %v, want %v\n%s", msg, !want, want, out)
				}
			}
		})
	}
	t.Run("output is JSON", func(t *testing.T) {
		var buf bytes.Buffer
		NewLogger(&buf, "info").Info("hello", "k", 1)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || rec["msg"] != "hello" {
			t.Fatalf("not a JSON record: %q (%v)", buf.String(), err)
		}
	})
}

func TestSensitiveHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"authorization", true},
		{"Authorization", true},
		{"proxy-authorization", true},
		{"x-api-key", true},
		{"api-key", true},
		{"cookie", true},
		{"set-cookie", true},
		{"x-goog-api-key", true},
		{"x-amz-security-token", true},
		{"x-gateway-session-id", true},
		{"openai-apikey", true},
		{"x-client-secret", true},
		{"content-type", false},
		{"x-request-id", false},
		{":path", false},
		{"traceparent", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SensitiveHeader(tt.name); got != tt.want {
				t.Errorf("SensitiveHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestRedactHeaders(t *testing.T) {
	in := map[string]string{"authorization": "Bearer sk-1", "x-api-key": "sk-2", "content-type": "application/json"}
	got := RedactHeaders(in)
	want := map[string]string{"authorization": Redacted, "x-api-key": Redacted, "content-type": "application/json"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if in["authorization"] != "Bearer sk-1" {
		t.Error("RedactHeaders modified its input")
	}
}

func TestHeadersLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "debug")
	log.Debug("headers", "headers", Headers{
		"cookie": "session=abc", "authorization": "Bearer sk-live", ":path": "/v1/chat/completions",
	})
	out := buf.String()
	for _, secret := range []string{"sk-live", "session=abc"} {
		if strings.Contains(out, secret) {
			t.Errorf("log line leaks %q: %s", secret, out)
		}
	}
	want := `"headers":{":path":"/v1/chat/completions","authorization":"[redacted]","cookie":"[redacted]"}`
	if !strings.Contains(out, want) {
		t.Errorf("log line = %s\nwant it to contain %s", out, want)
	}
}

func TestContentAttr(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		want    bool
	}{
		{"disabled drops the prompt", false, false},
		{"enabled keeps the prompt", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			NewLogger(&buf, "debug").LogAttrs(t.Context(), slog.LevelDebug, "req",
				ContentAttr(tt.enabled, "prompt", "tell me a secret"), slog.Int("n", 1))
			if got := strings.Contains(buf.String(), "tell me a secret"); got != tt.want {
				t.Errorf("prompt logged = %v, want %v: %s", got, tt.want, buf.String())
			}
			if !strings.Contains(buf.String(), `"n":1`) {
				t.Errorf("other attributes lost: %s", buf.String())
			}
		})
	}
}
