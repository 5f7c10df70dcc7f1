package envoysim

import (
	"errors"
	"fmt"
	"os"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	// The typed_config Any values in envoy.yaml resolve through the global
	// proto registry, so every extension the file may name is linked here.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// Config is an Envoy bootstrap parsed with go-control-plane, validated, and
// digested into the settings the stand-in emulates.
type Config struct {
	// Bootstrap is the parsed and validated file, for tests that cross-check
	// names (clusters, headers) against other configuration.
	Bootstrap *bootstrapv3.Bootstrap
	// AdminAddress is the admin listener ("host:port"), empty when absent.
	AdminAddress string
	// Listener is the single HTTP listener and its filter chain.
	Listener *Listener
	// Clusters are the static clusters by name.
	Clusters map[string]*Cluster
}

// LoadConfig reads an Envoy v3 bootstrap YAML file and returns it parsed,
// validated (protoc-gen-validate rules, typed extensions included) and
// digested. Unknown fields, unknown or misnamed extension types and features
// the stand-in cannot emulate are errors.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("envoysim: read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("envoysim: %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig is LoadConfig for YAML (or JSON) already in memory.
func ParseConfig(data []byte) (*Config, error) {
	bs, err := ParseBootstrap(data)
	if err != nil {
		return nil, err
	}
	return digestBootstrap(bs)
}

// ParseBootstrap parses and validates a bootstrap without digesting it, for
// callers that only need the protos.
func ParseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if err := bs.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bootstrap validation: %w", err)
	}
	return bs, nil
}

func digestBootstrap(bs *bootstrapv3.Bootstrap) (*Config, error) {
	cfg := &Config{Bootstrap: bs, Clusters: map[string]*Cluster{}}
	if a := bs.GetAdmin().GetAddress(); a != nil {
		addr, err := socketAddress(a)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		cfg.AdminAddress = addr
	}
	sr := bs.GetStaticResources()
	if sr == nil {
		return nil, errors.New("static_resources is required (dynamic resources are not emulated)")
	}
	if bs.GetDynamicResources() != nil {
		return nil, errors.New("dynamic_resources are not emulated")
	}
	for _, c := range sr.GetClusters() {
		dc, err := digestCluster(c)
		if err != nil {
			return nil, fmt.Errorf("cluster %q: %w", c.GetName(), err)
		}
		if _, dup := cfg.Clusters[dc.Name]; dup {
			return nil, fmt.Errorf("cluster %q defined twice", dc.Name)
		}
		cfg.Clusters[dc.Name] = dc
	}
	if n := len(sr.GetListeners()); n != 1 {
		return nil, fmt.Errorf("want exactly one listener, got %d", n)
	}
	l, err := digestListener(sr.GetListeners()[0])
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", sr.GetListeners()[0].GetName(), err)
	}
	cfg.Listener = l
	if err := cfg.crossCheck(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ClusterHeaders lists the distinct route cluster_header names, for tests
// that cross-check them against the sidecar's routing header.
func (c *Config) ClusterHeaders() []string {
	var out []string
	seen := map[string]bool{}
	for _, vh := range c.Listener.VirtualHosts {
		for _, r := range vh.Routes {
			if r.ClusterHeader != "" && !seen[r.ClusterHeader] {
				seen[r.ClusterHeader] = true
				out = append(out, r.ClusterHeader)
			}
		}
	}
	return out
}

// crossCheck catches references Envoy would reject at startup.
func (c *Config) crossCheck() error {
	var errs []error
	if ep := c.Listener.ExtProc; ep != nil {
		cl, ok := c.Clusters[ep.ClusterName]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("ext_proc grpc_service names unknown cluster %q", ep.ClusterName))
		case !cl.HTTP2:
			errs = append(errs, fmt.Errorf("ext_proc cluster %q must speak HTTP/2 (gRPC)", ep.ClusterName))
		}
	}
	for _, vh := range c.Listener.VirtualHosts {
		for _, r := range vh.Routes {
			if r.Cluster != "" {
				if _, ok := c.Clusters[r.Cluster]; !ok {
					errs = append(errs, fmt.Errorf("route %q names unknown cluster %q", r.Name, r.Cluster))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// unpackValidated resolves a typed_config Any into its registered message and
// runs its validation rules, which Bootstrap.ValidateAll does not reach.
func unpackValidated(a *anypb.Any) (proto.Message, error) {
	if a == nil {
		return nil, errors.New("typed_config is required")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("typed_config %s: %w", a.GetTypeUrl(), err)
	}
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, fmt.Errorf("%s: %w", a.GetTypeUrl(), err)
		}
	}
	return m, nil
}

func socketAddress(a *corev3.Address) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", errors.New("only socket_address is supported")
	}
	if sa.GetPortValue() == 0 && sa.GetNamedPort() == "" {
		return "", errors.New("socket_address needs port_value")
	}
	return joinHostPort(sa.GetAddress(), int(sa.GetPortValue())), nil
}

func durationOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}
