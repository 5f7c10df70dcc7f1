package envoysim

import (
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// FuzzApplyHeaderMutation feeds processor-supplied mutations (the bytes a
// sidecar sends) through the mutation rules: no panic, and whatever is
// applied keeps the map well formed.
func FuzzApplyHeaderMutation(f *testing.F) {
	seed := &extprocv3.HeaderMutation{
		SetHeaders:    []*corev3.HeaderValueOption{opt("x-a", "1"), opt(":authority", "x"), opt(":status", "99")},
		RemoveHeaders: []string{":path", "host", "x-one"},
	}
	b, _ := proto.Marshal(seed)
	f.Add(b, false)
	f.Add([]byte{0x0a, 0x03, 0x0a, 0x01, 0x3a}, true)
	f.Fuzz(func(t *testing.T, data []byte, allowAll bool) {
		m := &extprocv3.HeaderMutation{}
		if proto.Unmarshal(data, m) != nil {
			return
		}
		rules := &mutationRules{allowAllRouting: allowAll, allowEnvoy: allowAll}
		h := baseHeaders()
		_, _ = applyHeaderMutation(h, m, rules, false)
		seenRegular := false
		for _, e := range h.list {
			if e.name != strings.ToLower(e.name) || !validHeaderName(e.name) || !validHeaderValue(e.value) {
				t.Fatalf("malformed entry %q: %q", e.name, e.value)
			}
			pseudo := strings.HasPrefix(e.name, ":")
			if pseudo && seenRegular {
				t.Fatalf("pseudo-header %q after regular headers", e.name)
			}
			seenRegular = seenRegular || !pseudo
		}
		for _, must := range []string{":path", ":method", ":authority", ":scheme", "host"} {
			if !h.has(must) {
				t.Fatalf("%s removed", must)
			}
		}
		if v, ok := h.get(":status"); ok {
			if code, err := strconv.Atoi(v); err != nil || code < 200 {
				t.Fatalf("invalid :status %q accepted", v)
			}
		}
	})
}

// FuzzControlHeaders parses the x-envoy-* values a processor (or a client)
// controls: fault, timeout and retry headers.
func FuzzControlHeaders(f *testing.F) {
	f.Add("503", "50", "100", "10", "250", "5xx,reset", "3")
	f.Add("-1", "x", "99999999999", "", "0", "bogus,,", "-2")
	f.Fuzz(func(t *testing.T, abort, abortPct, delay, delayPct, timeout, retryOn, maxRetries string) {
		h := &headerMap{}
		for _, kv := range [][2]string{
			{"x-envoy-fault-abort-request", abort}, {"x-envoy-fault-abort-request-percentage", abortPct},
			{"x-envoy-fault-delay-request", delay}, {"x-envoy-fault-delay-request-percentage", delayPct},
			{"x-envoy-upstream-rq-timeout-ms", timeout}, {"x-envoy-retry-on", retryOn}, {"x-envoy-max-retries", maxRetries},
		} {
			h.add(kv[0], kv[1])
		}
		flt := &Fault{Abort: &FaultAbort{Header: true, Percent: Fraction{100, 100}}, Delay: &FaultDelay{Header: true, Percent: Fraction{10, 100}}}
		if s := flt.abortFor(h, fixedRand(7)); s != 0 && (s < 200 || s >= 600) {
			t.Fatalf("abort status %d", s)
		}
		if d := flt.delayFor(h, fixedRand(7)); d < 0 {
			t.Fatalf("negative delay %v", d)
		}
		global, perTry := routeTimeouts(&Route{Timeout: 300_000_000_000}, h)
		if global < 0 || perTry < 0 {
			t.Fatalf("negative timeouts %v %v", global, perTry)
		}
		if rs := newRetryState(&RetryPolicy{NumRetries: 1, BaseInterval: 1, MaxInterval: 10}, h); rs == nil || rs.remaining < 0 {
			t.Fatalf("retry state %+v", rs)
		}
	})
}

// FuzzAccessLogFormat checks operator parsing of formats from envoy.yaml.
func FuzzAccessLogFormat(f *testing.F) {
	f.Add("%REQ(:PATH)% %RESPONSE_CODE% %DYNAMIC_METADATA(a:b)%:%REQ(X):3%")
	f.Add("%%%(%)%:%")
	f.Fuzz(func(t *testing.T, tmpl string) {
		_ = checkOperators(tmpl)
		req := &headerMap{}
		req.add(":path", "/")
		_ = expandText(tmpl, &accessRecord{req: req})
	})
}
