// Package deploy tests the deployment artefacts: Dockerfile and .dockerignore,
// docker-compose.yaml with deploy/compose and deploy/otel, and the Kubernetes
// manifests in k8s/. No image can be built and no cluster started where these
// tests run, so the artefacts are loaded with the loaders their tools use
// (compose-go, k8s.io/api types decoded strictly) and every cross-reference is
// checked: files that must exist, ports and addresses that must agree with
// envoy/envoy.yaml and the sidecar configs, selectors, names and keys.
//
// Each check returns its problems instead of failing the test directly, so the
// negative tests can break a loaded object and show that the check notices.
package deploy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/llm-gateway/gateway/pkg/config"
)

// repoRoot is the repository root as seen from this package's directory, where
// `go test` runs.
const repoRoot = ".."

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{repoRoot}, parts...)...)
}

func readRepoFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reportAll fails the test once per problem so a run lists every one of them.
func reportAll(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

// wantProblem asserts that errs contains a problem mentioning want.
func wantProblem(t *testing.T, errs []error, want string) {
	t.Helper()
	for _, err := range errs {
		if strings.Contains(err.Error(), want) {
			return
		}
	}
	t.Errorf("no problem mentions %q; got %v", want, errs)
}

// hostPort is a TCP address as written in the configs.
type hostPort struct {
	Host string
	Port int
}

func (h hostPort) String() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

func parseHostPort(s string) (hostPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return hostPort{}, fmt.Errorf("address %q: bad port", s)
	}
	return hostPort{Host: host, Port: p}, nil
}

func (h hostPort) loopback() bool {
	ip := net.ParseIP(h.Host)
	return h.Host == "localhost" || (ip != nil && ip.IsLoopback())
}

func (h hostPort) wildcard() bool { return h.Host == "0.0.0.0" || h.Host == "::" || h.Host == "" }

// envoySocket is the part of an Envoy address the deployment files depend on.
type envoySocket struct {
	SocketAddress struct {
		Address   string `json:"address"`
		PortValue int    `json:"port_value"`
	} `json:"socket_address"`
}

func (s envoySocket) hostPort() hostPort {
	return hostPort{Host: s.SocketAddress.Address, Port: s.SocketAddress.PortValue}
}

// envoyBootstrap decodes only what deployment depends on; the full file is
// validated with go-control-plane in pkg/envoysim.
type envoyBootstrap struct {
	Admin struct {
		Address envoySocket `json:"address"`
	} `json:"admin"`
	StaticResources struct {
		Listeners []struct {
			Name         string      `json:"name"`
			Address      envoySocket `json:"address"`
			FilterChains []struct {
				Filters []struct {
					TypedConfig struct {
						RouteConfig struct {
							VirtualHosts []struct {
								Routes []struct {
									Route struct {
										ClusterHeader string `json:"cluster_header"`
									} `json:"route"`
								} `json:"routes"`
							} `json:"virtual_hosts"`
						} `json:"route_config"`
						HTTPFilters []struct {
							Name        string `json:"name"`
							TypedConfig struct {
								GRPCService struct {
									EnvoyGRPC struct {
										ClusterName string `json:"cluster_name"`
									} `json:"envoy_grpc"`
								} `json:"grpc_service"`
							} `json:"typed_config"`
						} `json:"http_filters"`
					} `json:"typed_config"`
				} `json:"filters"`
			} `json:"filter_chains"`
		} `json:"listeners"`
		Clusters []struct {
			Name           string `json:"name"`
			LoadAssignment struct {
				Endpoints []struct {
					LbEndpoints []struct {
						Endpoint struct {
							Address envoySocket `json:"address"`
						} `json:"endpoint"`
					} `json:"lb_endpoints"`
				} `json:"endpoints"`
			} `json:"load_assignment"`
		} `json:"clusters"`
	} `json:"static_resources"`
}

// envoyFacts are the addresses and names in envoy.yaml that the compose file,
// the Kubernetes manifests and the sidecar configs must agree with.
type envoyFacts struct {
	Admin     hostPort
	Listeners []hostPort
	// Clusters maps each cluster to its endpoint addresses.
	Clusters map[string][]hostPort
	// ExtProcCluster is the cluster the ext_proc filter streams to.
	ExtProcCluster string
	// ClusterHeaders are the route cluster_header names (the sidecar's routing header).
	ClusterHeaders []string
}

func parseEnvoy(data []byte) (envoyFacts, error) {
	var b envoyBootstrap
	if err := yaml.Unmarshal(data, &b); err != nil {
		return envoyFacts{}, fmt.Errorf("decode envoy.yaml: %w", err)
	}
	f := envoyFacts{Admin: b.Admin.Address.hostPort(), Clusters: map[string][]hostPort{}}
	for _, l := range b.StaticResources.Listeners {
		f.Listeners = append(f.Listeners, l.Address.hostPort())
		for _, fc := range l.FilterChains {
			for _, flt := range fc.Filters {
				for _, vh := range flt.TypedConfig.RouteConfig.VirtualHosts {
					for _, r := range vh.Routes {
						if h := r.Route.ClusterHeader; h != "" {
							f.ClusterHeaders = append(f.ClusterHeaders, h)
						}
					}
				}
				for _, hf := range flt.TypedConfig.HTTPFilters {
					if hf.Name == "envoy.filters.http.ext_proc" {
						f.ExtProcCluster = hf.TypedConfig.GRPCService.EnvoyGRPC.ClusterName
					}
				}
			}
		}
	}
	for _, c := range b.StaticResources.Clusters {
		for _, e := range c.LoadAssignment.Endpoints {
			for _, lb := range e.LbEndpoints {
				f.Clusters[c.Name] = append(f.Clusters[c.Name], lb.Endpoint.Address.hostPort())
			}
		}
	}
	if len(f.Listeners) == 0 || f.Admin.Port == 0 || f.ExtProcCluster == "" {
		return f, errors.New("envoy.yaml: no listener, admin address or ext_proc filter found")
	}
	return f, nil
}

// extProcAddr is the single endpoint Envoy streams ext_proc messages to.
func (f envoyFacts) extProcAddr() (hostPort, error) {
	eps := f.Clusters[f.ExtProcCluster]
	if len(eps) != 1 {
		return hostPort{}, fmt.Errorf("envoy.yaml: ext_proc cluster %q has %d endpoints, want 1 (the sidecar in the same pod)", f.ExtProcCluster, len(eps))
	}
	return eps[0], nil
}

func loadEnvoyFacts(t testing.TB, parts ...string) envoyFacts {
	t.Helper()
	f, err := parseEnvoy(readRepoFile(t, parts...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parseGatewayConfig parses a sidecar config with the project's own loader.
// getenv supplies the secrets the way the container's environment would; the
// names asked for are returned so callers can check they are really set.
func parseGatewayConfig(data []byte, getenv func(string) string) (*config.Config, []string, error) {
	var asked []string
	env := config.Env{
		Getenv: func(name string) string {
			asked = append(asked, name)
			return getenv(name)
		},
		ReadFile: func(path string) ([]byte, error) {
			return nil, fmt.Errorf("secret file %s: deployment tests only support *_env secrets", path)
		},
	}
	cfg, err := config.Parse(data, env)
	return cfg, asked, err
}

// checkSidecarAgainstEnvoy is shared by compose and Kubernetes: the sidecar must
// listen where Envoy's ext_proc cluster points, in the same network namespace,
// use the header Envoy routes on, and name only clusters Envoy has.
func checkSidecarAgainstEnvoy(cfg *config.Config, ef envoyFacts) []error {
	var errs []error
	want, err := ef.extProcAddr()
	if err != nil {
		return []error{err}
	}
	grpc, err := parseHostPort(cfg.Server.GRPCListen)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("server.grpc_listen: %w", err))
	case grpc.Port != want.Port || !want.loopback():
		errs = append(errs, fmt.Errorf("server.grpc_listen %s does not serve envoy's ext_proc cluster %s (loopback, same namespace)", grpc, want))
	case !grpc.loopback() && !grpc.wildcard():
		errs = append(errs, fmt.Errorf("server.grpc_listen %s is not reachable on Envoy's loopback", grpc))
	}
	found := false
	for _, h := range ef.ClusterHeaders {
		found = found || h == cfg.Server.RoutingHeader
	}
	if !found {
		errs = append(errs, fmt.Errorf("server.routing_header %q is not a cluster_header in envoy.yaml (%v)", cfg.Server.RoutingHeader, ef.ClusterHeaders))
	}
	for _, p := range cfg.Providers {
		if _, ok := ef.Clusters[p.Cluster]; !ok {
			errs = append(errs, fmt.Errorf("provider %q: cluster %q is not in envoy.yaml", p.Name, p.Cluster))
		}
	}
	return errs
}

func TestEnvoyFacts(t *testing.T) {
	f := loadEnvoyFacts(t, "envoy", "envoy.yaml")
	if f.ExtProcCluster == "" || len(f.ClusterHeaders) == 0 {
		t.Fatalf("envoy.yaml: ext_proc cluster %q, cluster headers %v", f.ExtProcCluster, f.ClusterHeaders)
	}
	if _, err := f.extProcAddr(); err != nil {
		t.Fatal(err)
	}
	if _, err := parseEnvoy([]byte("admin: {}\n")); err == nil {
		t.Error("parseEnvoy accepted a bootstrap without listener or ext_proc filter")
	}
}
