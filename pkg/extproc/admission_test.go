package extproc

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestCancelledDuringQuotaCheckIsNotAnError: a stream Envoy cancels (the
// client went away) before the quota check is answered is recorded as a
// client cancellation, not logged as a failure of the gateway.
func TestCancelledDuringQuotaCheckIsNotAnError(t *testing.T) {
	srv := newTestServer(t, testConfig(t))
	var logs bytes.Buffer
	srv.opts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := newRequest(srv, srv.opts.Snapshot())
	r.handle(t.Context(), chatHeaders(testKey))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r.handle(ctx, reqBody(`{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}`))
	r.finish(t.Context())
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("a client cancellation was logged as an error:\n%s", out)
	}
	if !strings.Contains(out, `"reason":"client_canceled"`) || !strings.Contains(out, `"client_canceled":true`) {
		t.Errorf("request line does not say the client cancelled:\n%s", out)
	}
}
