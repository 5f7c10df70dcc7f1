package e2e

import (
	"testing"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/envoysim"
)

// TestEnvoyConfigAgreesWithSidecarConfigs: every cluster a sidecar config routes
// to exists in the envoy.yaml it runs with, the route's cluster_header is the
// sidecar's routing header, and the ext_proc cluster exists.
func TestEnvoyConfigAgreesWithSidecarConfigs(t *testing.T) {
	env := config.Env{Getenv: func(string) string { return "placeholder" }}
	pairs := []struct{ envoy, sidecar string }{
		{"../../envoy/envoy.yaml", "../../config/gateway.yaml"},
		{"../../envoy/envoy.local.yaml", "../../config/gateway.local.yaml"},
		{"../../envoy/envoy.yaml", "../../deploy/compose/gateway.yaml"},
	}
	for _, p := range pairs {
		t.Run(p.sidecar, func(t *testing.T) {
			ecfg, err := envoysim.LoadConfig(p.envoy)
			if err != nil {
				t.Fatal(err)
			}
			env.ReadFile = readFile
			scfg, err := config.Load(p.sidecar, env)
			if err != nil {
				t.Fatal(err)
			}
			headers := ecfg.ClusterHeaders()
			if len(headers) != 1 || headers[0] != scfg.Server.RoutingHeader {
				t.Errorf("envoy cluster_header %v, sidecar routing_header %q", headers, scfg.Server.RoutingHeader)
			}
			for _, pr := range scfg.Providers {
				if ecfg.Clusters[pr.Cluster] == nil {
					t.Errorf("provider %s routes to cluster %q, missing from %s", pr.Name, pr.Cluster, p.envoy)
				}
			}
			if ecfg.Clusters["ext_proc_sidecar"] == nil {
				t.Errorf("%s has no ext_proc_sidecar cluster", p.envoy)
			}
		})
	}
}
