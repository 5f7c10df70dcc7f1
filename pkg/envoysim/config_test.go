package envoysim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
)

const (
	prodYAML  = "../../envoy/envoy.yaml"
	localYAML = "../../envoy/envoy.local.yaml"
)

func TestShippedConfigsLoad(t *testing.T) {
	for _, path := range []string{prodYAML, localYAML} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			l := cfg.Listener
			want := []string{filterExtProc, filterFault, filterRouter}
			if diff := cmp.Diff(want, l.Filters); diff != "" {
				t.Errorf("filter order (-want +got):\n%s", diff)
			}
			if l.BufferLimit != 8<<20 || l.StatPrefix != "llm_gateway" || !l.UseRemoteAddress || !l.GenerateRequestID || l.PreserveExternalRequestID {
				t.Errorf("connection manager digest: %+v", l)
			}
			if diff := cmp.Diff([]string{"x-gateway-cluster"}, cfg.ClusterHeaders()); diff != "" {
				t.Errorf("cluster headers (-want +got):\n%s", diff)
			}
			rt := l.VirtualHosts[0].Routes[0]
			if rt.ClusterHeader != "x-gateway-cluster" || rt.Timeout != 300*time.Second || !rt.AutoHostRewrite || rt.ClusterNotFoundCode != 503 {
				t.Errorf("route digest: %+v", rt)
			}
			wantRetry := &RetryPolicy{
				RetryOn:              []string{"5xx", "reset", "connect-failure", "refused-stream", "retriable-status-codes"},
				RetriableStatusCodes: []int{429}, NumRetries: 0, PreviousHosts: true, HostSelectionMaxAttempts: 3,
				BaseInterval: 250 * time.Millisecond, MaxInterval: 2 * time.Second,
			}
			if diff := cmp.Diff(wantRetry, rt.Retry); diff != "" {
				t.Errorf("retry policy (-want +got):\n%s", diff)
			}
			ep := l.ExtProc
			if ep.ClusterName != "ext_proc_sidecar" || ep.FailureModeAllow || ep.MessageTimeout != 5*time.Second ||
				!ep.AllowModeOverride || !ep.rules.allowEnvoy || ep.StatusOnError != 500 ||
				ep.Mode.GetRequestBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED ||
				ep.Mode.GetResponseBodyMode() != extprocfilterv3.ProcessingMode_BUFFERED {
				t.Errorf("ext_proc digest: %+v", ep)
			}
			if diff := cmp.Diff([]string{"llm_gateway"}, ep.ReceivingNamespaces); diff != "" {
				t.Errorf("receiving namespaces: %s", diff)
			}
			f := l.Fault
			if f.Abort == nil || !f.Abort.Header || f.Delay == nil || !f.Delay.Header || f.MaxActiveFaults != 100 ||
				f.Abort.Percent != (Fraction{100, 100}) {
				t.Errorf("fault digest: %+v", f)
			}
			for _, name := range []string{"ext_proc_sidecar", "openai", "vllm", "mock"} {
				if cfg.Clusters[name] == nil {
					t.Errorf("cluster %q missing", name)
				}
			}
			if c := cfg.Clusters["ext_proc_sidecar"]; !c.HTTP2 || c.Outlier != nil {
				t.Errorf("sidecar cluster: %+v", c)
			}
			if c := cfg.Clusters["openai"]; c.TLS == nil || c.TLS.SNI != "api.openai.com" || c.TLS.CAFile != "/etc/ssl/certs/ca-certificates.crt" {
				t.Errorf("openai TLS: %+v", c.TLS)
			}
			od := cfg.Clusters["mock"].Outlier
			wantOD := &Outlier{Consecutive5xx: 5, ConsecutiveLocalOriginFailure: 5, Enforcing5xx: 100, EnforcingLocalOriginFailure: 100,
				Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second,
				MaxEjectionPercent: 50, SplitExternalLocalOriginErrors: true}
			if diff := cmp.Diff(wantOD, od); diff != "" {
				t.Errorf("outlier (-want +got):\n%s", diff)
			}
			if rb := cfg.Clusters["mock"].Thresholds.RetryBudget; rb == nil || rb.Percent != 20 || rb.MinConcurrency != 3 {
				t.Errorf("retry budget: %+v", rb)
			}
		})
	}
}

func TestLocalConfigDiffersOnlyInAddresses(t *testing.T) {
	load := func(path string) proto.Message {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := ParseBootstrap(data)
		if err != nil {
			t.Fatal(err)
		}
		blankAddresses(bs.ProtoReflect())
		return bs
	}
	if diff := cmp.Diff(load(prodYAML), load(localYAML), protocmp.Transform()); diff != "" {
		t.Errorf("envoy.yaml and envoy.local.yaml differ beyond addresses (-prod +local):\n%s", diff)
	}
	cfg, err := LoadConfig(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{cfg.AdminAddress, cfg.Listener.Address}
	for _, c := range []string{"ext_proc_sidecar", "mock", "vllm"} {
		addrs = append(addrs, cfg.Clusters[c].Endpoints[0].Address())
	}
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("local address %q is not on loopback", a)
		}
	}
}

// blankAddresses clears every SocketAddress.address in m.
func blankAddresses(m protoreflect.Message) {
	if sa, ok := m.Interface().(*corev3.SocketAddress); ok {
		sa.Address = ""
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				blankAddresses(v.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				blankAddresses(mv.Message())
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			blankAddresses(v.Message())
		}
		return true
	})
}

func TestAccessLogNeverLogsSecretsOrBodies(t *testing.T) {
	cfg, err := LoadConfig(prodYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listener.AccessLogs) != 1 || cfg.Listener.AccessLogs[0].JSON == nil {
		t.Fatalf("want one JSON access log, got %+v", cfg.Listener.AccessLogs)
	}
	js, err := protoJSON(cfg.Listener.AccessLogs[0].JSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"AUTHORIZATION", "X-API-KEY", "BODY", "COOKIE"} {
		if strings.Contains(strings.ToUpper(js), bad) {
			t.Errorf("access log format mentions %s: %s", bad, js)
		}
	}
	for _, want := range []string{"%RESPONSE_CODE%", "%RESPONSE_FLAGS%", "%REQ(X-REQUEST-ID)%", "%UPSTREAM_CLUSTER%", "%DURATION%"} {
		if !strings.Contains(js, want) {
			t.Errorf("access log format lacks %s", want)
		}
	}
}

func TestParseConfigRejects(t *testing.T) {
	base, err := os.ReadFile(localYAML)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, wantErr string
	}{
		{"unknown field", "stat_prefix: llm_gateway", "stat_prefix: llm_gateway\n                bogus_field: 1", "bogus_field"},
		{"wrong filter type for name", "- name: envoy.filters.http.fault", "- name: envoy.filters.http.ext_proc", "carries the config of"},
		{"unknown extension type", "envoy.extensions.filters.http.fault.v3.HTTPFault", "envoy.extensions.filters.http.fault.v3.NoSuchThing", "NoSuchThing"},
		{"router not last", "                  - name: envoy.filters.http.router\n                    typed_config:\n                      \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n", "", "end with the router"},
		{"unknown ext_proc cluster", "cluster_name: ext_proc_sidecar", "cluster_name: no_such_cluster", "unknown cluster"},
		{"validation rule", "base_interval: 0.25s", "base_interval: 0s", "BaseInterval"},
		{"full duplex not emulated", "response_body_mode: BUFFERED", "response_body_mode: FULL_DUPLEX_STREAMED", "not emulated"},
		{"unknown retry_on", `retry_on: "5xx,`, `retry_on: "5xxx,`, "retry_on"},
		{"unknown access log operator", `"%RESPONSE_CODE%"`, `"%RESPONSE_COD%"`, "RESPONSE_COD"},
		{"observability mode", "allow_mode_override: true", "allow_mode_override: true\n                      observability_mode: true", "observability_mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := string(base)
			if !strings.Contains(src, tc.old) {
				t.Fatalf("test setup: %q not in envoy.local.yaml", tc.old)
			}
			_, err := ParseConfig([]byte(strings.Replace(src, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
