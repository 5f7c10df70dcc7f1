package envoysim

import (
	"errors"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func baseHeaders() *headerMap {
	h := &headerMap{}
	for _, kv := range [][2]string{{":authority", "a"}, {":path", "/p"}, {":method", "POST"}, {":scheme", "http"},
		{"host", "a"}, {"x-one", "1"}, {"x-dup", "a"}, {"x-dup", "b"}} {
		h.add(kv[0], kv[1])
	}
	return h
}

func opt(key, raw string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(raw)}}
}

func TestApplyHeaderMutation(t *testing.T) {
	def := &mutationRules{}
	envoyOK := &mutationRules{allowEnvoy: true}
	strict := &mutationRules{disallowIsError: true}
	tests := []struct {
		name         string
		rules        *mutationRules
		mut          *extprocv3.HeaderMutation
		replacing    bool
		want         map[string][]string // checked names only
		wantRejected int
		wantErr      bool
	}{
		{"set overwrites every copy", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("x-dup", "z")}},
			false, map[string][]string{"x-dup": {"z"}}, 0, false},
		{"value-only arrives empty", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-v", Value: "lost"}}}}, false, map[string][]string{"x-v": {""}}, 0, false},
		{"value and raw_value both set", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-v", Value: "a", RawValue: []byte("b")}}}}, false, nil, 1, true},
		{"deprecated append true appends", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-one", RawValue: []byte("2")}, Append: wrapperspb.Bool(true)}}},
			false, map[string][]string{"x-one": {"1", "2"}}, 0, false},
		{"append and append_action both set", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-one", RawValue: []byte("2")}, Append: wrapperspb.Bool(false),
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}}}, false, nil, 1, true},
		{"overwrite_if_exists skips absent", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-new", RawValue: []byte("2")}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS}}},
			false, map[string][]string{"x-new": nil}, 0, false},
		{"add_if_absent keeps existing", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-one", RawValue: []byte("2")}, AppendAction: corev3.HeaderValueOption_ADD_IF_ABSENT}}},
			false, map[string][]string{"x-one": {"1"}}, 0, false},
		{"routing headers are ignored", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			opt(":authority", "evil"), opt("host", "evil"), opt(":method", "GET"), opt(":scheme", "https")}},
			false, map[string][]string{":authority": {"a"}, ":method": {"POST"}}, 4, false},
		{":method allowed under CONTINUE_AND_REPLACE", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{
			opt(":method", "GET")}}, true, map[string][]string{":method": {"GET"}}, 0, false},
		{":path is mutable", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt(":path", "/q")}},
			false, map[string][]string{":path": {"/q"}}, 0, false},
		{"x-envoy needs allow_envoy", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("x-envoy-max-retries", "3")}},
			false, map[string][]string{"x-envoy-max-retries": nil}, 1, false},
		{"x-envoy with allow_envoy", envoyOK, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("x-envoy-max-retries", "3")}},
			false, map[string][]string{"x-envoy-max-retries": {"3"}}, 0, false},
		{"pseudo headers and host never removed", envoyOK, &extprocv3.HeaderMutation{RemoveHeaders: []string{":path", "host", "x-one"}},
			false, map[string][]string{":path": {"/p"}, "host": {"a"}, "x-one": nil}, 2, false},
		{":status below 200 rejected", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt(":status", "101")}},
			false, map[string][]string{":status": nil}, 1, false},
		{"disallow_is_error fails", strict, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("host", "x")}},
			false, nil, 1, true},
		{"invalid name fails", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("bad name", "x")}},
			false, nil, 1, true},
		{"CRLF in value fails", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("x-a", "v\r\nx-b: 1")}},
			false, nil, 1, true},
		{"upper-case names are lowered", def, &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{opt("X-Up", "1")}},
			false, map[string][]string{"x-up": {"1"}}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := baseHeaders()
			res, err := applyHeaderMutation(h, tc.mut, tc.rules, tc.replacing)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, errInvalidMutation)) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if res.rejected != tc.wantRejected {
				t.Errorf("rejected %d, want %d", res.rejected, tc.wantRejected)
			}
			for name, want := range tc.want {
				if diff := cmp.Diff(want, values(h, name)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

func values(h *headerMap, name string) []string {
	var out []string
	for _, e := range h.list {
		if e.name == name {
			out = append(out, e.value)
		}
	}
	return out
}

func TestMutationRuleExpressions(t *testing.T) {
	r, err := compileMutationRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	r.allowExpr, _ = fullMatchRegexp(`x-envoy-max-.*`)
	r.disallowExpr, _ = fullMatchRegexp(`x-secret`)
	tests := map[string]checkResult{
		"x-envoy-max-retries": checkOK, "x-envoy-other": checkIgnore, "x-secret": checkIgnore,
		"x-secret-not-full-match": checkOK,
	}
	for name, want := range tests {
		if got := r.check(name, "v", false); got != want {
			t.Errorf("check(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestHeaderMapKeepsPseudoHeadersFirst(t *testing.T) {
	h := &headerMap{}
	h.add("x-a", "1")
	h.add(":status", "200")
	h.add("x-b", "2")
	h.set(":path", "/")
	want := []header{{":status", "200"}, {":path", "/"}, {"x-a", "1"}, {"x-b", "2"}}
	if diff := cmp.Diff(want, h.list, cmp.AllowUnexported(header{})); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}
