package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/llm-gateway/gateway/pkg/config"
)

const (
	envoyService   = "envoy"
	gatewayService = "gateway"
	// composeDemoKey is the demo key documented in deploy/compose/gateway.yaml.
	composeDemoKey = "sk-gw-demo-compose"
)

var requiredServices = []string{
	envoyService, gatewayService, "redis", "mock-llm", "prometheus", "grafana", "otel-collector", "jaeger",
}

// loadCompose loads docker-compose.yaml the way `docker compose` does, with an
// empty environment so the defaults in the file are what gets checked.
func loadCompose(t testing.TB) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{repoPath("docker-compose.yaml")},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv(nil),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yaml: %v", err)
	}
	return p
}

func serviceEnv(s types.ServiceConfig) func(string) string {
	return func(name string) string {
		if v := s.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
}

// hostFile maps a path inside a service's container to the host path behind
// the bind mount that provides it (the most specific mount wins).
func hostFile(s types.ServiceConfig, inContainer string) (string, error) {
	best, src := "", ""
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		target := strings.TrimSuffix(v.Target, "/")
		if inContainer != target && !strings.HasPrefix(inContainer, target+"/") {
			continue
		}
		if len(target) > len(best) {
			best, src = target, filepath.Join(v.Source, strings.TrimPrefix(inContainer, target))
		}
	}
	if best == "" {
		return "", fmt.Errorf("service %s: no bind mount provides %s", s.Name, inContainer)
	}
	return src, nil
}

// netnsOwner follows network_mode: service:X to the service owning the network
// namespace: that service's name, aliases and published ports are the ones
// that count.
func netnsOwner(p *types.Project, name string) string {
	if owner, ok := strings.CutPrefix(p.Services[name].NetworkMode, types.NetworkModeServicePrefix); ok {
		return owner
	}
	return name
}

// resolveHost returns the service a host name reaches on the compose network.
func resolveHost(p *types.Project, host string) (string, bool) {
	if _, ok := p.Services[host]; ok && p.Services[host].NetworkMode == "" {
		return host, true
	}
	for name, s := range p.Services {
		for _, n := range s.Networks {
			if n != nil && slices.Contains(n.Aliases, host) {
				return name, true
			}
		}
	}
	return "", false
}

func publishes(s types.ServiceConfig, port int) bool {
	for _, p := range s.Ports {
		if int(p.Target) == port {
			return true
		}
	}
	return false
}

func checkComposeServices(p *types.Project) []error {
	var errs []error
	for _, name := range requiredServices {
		if _, ok := p.Services[name]; !ok {
			errs = append(errs, fmt.Errorf("compose: service %q is missing", name))
		}
	}
	for name, s := range p.Services {
		_, tag, _ := strings.Cut(s.Image, ":")
		if s.Build == nil && (tag == "" || tag == "latest") {
			errs = append(errs, fmt.Errorf("compose %s: image %q is not pinned to a version", name, s.Image))
		}
	}
	return errs
}

// checkComposeFiles: every bind mount source and build input exists.
func checkComposeFiles(p *types.Project, df dockerfile) []error {
	var errs []error
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			st, err := os.Stat(v.Source)
			switch ext := filepath.Ext(v.Target); {
			case err != nil:
				errs = append(errs, fmt.Errorf("compose %s: bind mount source: %w", name, err))
			case (ext == ".yaml" || ext == ".yml") && st.IsDir():
				errs = append(errs, fmt.Errorf("compose %s: %s is a directory mounted as file %s", name, v.Source, v.Target))
			}
		}
		if s.Build == nil {
			continue
		}
		dockerfilePath := filepath.Join(s.Build.Context, cmpOr(s.Build.Dockerfile, "Dockerfile"))
		if _, err := os.Stat(dockerfilePath); err != nil {
			errs = append(errs, fmt.Errorf("compose %s: build: %w", name, err))
		}
		if _, ok := df.stage(s.Build.Target); !ok {
			errs = append(errs, fmt.Errorf("compose %s: build target %q is not a Dockerfile stage", name, s.Build.Target))
		}
	}
	return errs
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkComposePorts: published only on loopback, never twice, and never by a
// service living in another service's network namespace.
func checkComposePorts(p *types.Project) []error {
	var errs []error
	seen := map[string]string{}
	for name, s := range p.Services {
		if s.NetworkMode != "" && len(s.Ports) > 0 {
			errs = append(errs, fmt.Errorf("compose %s: publishes ports but uses network_mode %s", name, s.NetworkMode))
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("compose %s: port %d published on %q, want 127.0.0.1", name, port.Target, port.HostIP))
			}
			if other, dup := seen[port.Published]; dup {
				errs = append(errs, fmt.Errorf("compose: host port %s published by both %s and %s", port.Published, other, name))
			}
			seen[port.Published] = name
		}
	}
	return errs
}

// checkComposeDependsOn: waiting for "healthy" needs a health check to wait on.
func checkComposeDependsOn(p *types.Project) []error {
	var errs []error
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			hc := p.Services[dep].HealthCheck
			if d.Condition == types.ServiceConditionHealthy && (hc == nil || hc.Disable || len(hc.Test) == 0) {
				errs = append(errs, fmt.Errorf("compose %s: waits for %s to be healthy, but %s has no health check", name, dep, dep))
			}
		}
	}
	return errs
}

// checkComposeEnvoy: Envoy runs envoy/envoy.yaml and publishes its ports.
func checkComposeEnvoy(p *types.Project, ef envoyFacts) []error {
	s, ok := p.Services[envoyService]
	if !ok {
		return []error{fmt.Errorf("compose: no %s service", envoyService)}
	}
	var errs []error
	cfgPath, ok := flagValue(s.Command, "c")
	if !ok {
		return []error{fmt.Errorf("compose envoy: command %v has no -c", s.Command)}
	}
	src, err := hostFile(s, cfgPath)
	want, _ := filepath.Abs(repoPath("envoy", "envoy.yaml"))
	if err != nil || src != want {
		errs = append(errs, fmt.Errorf("compose envoy: -c %s is %q (%v), want envoy/envoy.yaml", cfgPath, src, err))
	}
	for _, l := range ef.Listeners {
		if !publishes(s, l.Port) {
			errs = append(errs, fmt.Errorf("compose envoy: listener port %d is not published", l.Port))
		}
	}
	if !publishes(s, ef.Admin.Port) {
		errs = append(errs, fmt.Errorf("compose envoy: admin port %d is not published", ef.Admin.Port))
	}
	return errs
}

// composeGatewayConfig reads the config the gateway container runs with,
// through its command line and bind mounts, and resolves its secrets from the
// service's environment.
func composeGatewayConfig(p *types.Project) (*config.Config, error) {
	s := p.Services[gatewayService]
	path, ok := flagValue(s.Command, "config")
	if !ok {
		return nil, fmt.Errorf("compose gateway: command %v has no -config", s.Command)
	}
	src, err := hostFile(s, path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("compose gateway: %w", err)
	}
	cfg, _, err := parseGatewayConfig(data, serviceEnv(s))
	if err != nil {
		return nil, fmt.Errorf("compose gateway: %s: %w", src, err)
	}
	return cfg, nil
}

func checkComposeGateway(p *types.Project, ef envoyFacts) []error {
	s := p.Services[gatewayService]
	if s.NetworkMode != types.NetworkModeServicePrefix+envoyService {
		return []error{fmt.Errorf("compose gateway: network_mode %q, want service:%s (envoy.yaml reaches the sidecar on loopback)", s.NetworkMode, envoyService)}
	}
	cfg, err := composeGatewayConfig(p)
	if err != nil {
		return []error{err}
	}
	errs := checkSidecarAgainstEnvoy(cfg, ef)
	admin, err := parseHostPort(cfg.Server.AdminListen)
	switch {
	case err != nil:
		errs = append(errs, err)
	case !admin.wildcard():
		errs = append(errs, fmt.Errorf("compose gateway: admin_listen %s is unreachable from Prometheus", admin))
	case !publishes(p.Services[envoyService], admin.Port):
		errs = append(errs, fmt.Errorf("compose gateway: admin port %d is not published by %s, which owns the namespace", admin.Port, envoyService))
	}
	if g := s.StopGracePeriod; g == nil || time.Duration(*g) <= cfg.Server.ShutdownTimeout.D() {
		errs = append(errs, fmt.Errorf("compose gateway: stop_grace_period must exceed shutdown_timeout %s", cfg.Server.ShutdownTimeout.D()))
	}
	errs = append(errs, checkComposeUpstreams(p, cfg, ef)...)
	errs = append(errs, checkComposeHealthProbes(p, ef, admin.Port)...)
	return errs
}

// checkComposeUpstreams: the clusters the sidecar routes to, and its Redis, are
// services of this stack listening where the configs say.
func checkComposeUpstreams(p *types.Project, cfg *config.Config, ef envoyFacts) []error {
	var errs []error
	for _, prov := range cfg.Providers {
		for _, ep := range ef.Clusters[prov.Cluster] {
			name, ok := resolveHost(p, ep.Host)
			if !ok {
				errs = append(errs, fmt.Errorf("compose: cluster %s endpoint %s is not a service", prov.Cluster, ep))
				continue
			}
			port, err := listenFlagPort(p.Services[name].Command)
			if err != nil || port != ep.Port {
				errs = append(errs, fmt.Errorf("compose %s: listens on %d (%v), envoy cluster %s expects %s", name, port, err, prov.Cluster, ep))
			}
		}
	}
	for _, a := range cfg.Quota.Redis.Addrs {
		hp, err := parseHostPort(a)
		name, ok := resolveHost(p, hp.Host)
		if err != nil || !ok || !strings.HasPrefix(p.Services[name].Image, "redis:") || hp.Port != 6379 {
			errs = append(errs, fmt.Errorf("compose gateway: quota.redis address %q is not the redis service on 6379", a))
		}
	}
	return errs
}

var probeLine = regexp.MustCompile(`probe (\d+) (/\S*)`)

// checkComposeHealthProbes: the envoy health check probes Envoy's admin /ready
// and the sidecar's /readyz, both through the shared namespace.
func checkComposeHealthProbes(p *types.Project, ef envoyFacts, adminPort int) []error {
	hc := p.Services[envoyService].HealthCheck
	if hc == nil {
		return []error{fmt.Errorf("compose envoy: no health check")}
	}
	got := map[string]bool{}
	for _, m := range probeLine.FindAllStringSubmatch(strings.Join(hc.Test, " "), -1) {
		got[m[1]+m[2]] = true
	}
	var errs []error
	for _, want := range []string{strconv.Itoa(ef.Admin.Port) + "/ready", strconv.Itoa(adminPort) + "/readyz"} {
		if !got[want] {
			errs = append(errs, fmt.Errorf("compose envoy: health check does not probe %s (probes %v)", want, got))
		}
	}
	if script := strings.Join(hc.Test, " "); strings.Contains(script, "$$") || !strings.Contains(script, "$1") {
		errs = append(errs, fmt.Errorf("compose envoy: health check shell variables are not escaped as $$ in the file"))
	}
	return errs
}

func checkCompose(p *types.Project, ef envoyFacts, df dockerfile) []error {
	var errs []error
	for _, errs2 := range [][]error{
		checkComposeServices(p), checkComposeFiles(p, df), checkComposePorts(p),
		checkComposeDependsOn(p), checkComposeEnvoy(p, ef), checkComposeGateway(p, ef),
	} {
		errs = append(errs, errs2...)
	}
	return errs
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	reportAll(t, checkCompose(p, loadEnvoyFacts(t, "envoy", "envoy.yaml"), loadDockerfile(t)))
}

func TestComposeDemoKey(t *testing.T) {
	cfg, err := composeGatewayConfig(loadCompose(t))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(composeDemoKey))
	var owner string
	for _, c := range cfg.Consumers {
		if slices.Contains(c.KeySHA256, hex.EncodeToString(sum[:])) {
			owner = c.ID
		}
	}
	if owner != "demo" {
		t.Errorf("documented demo key %s belongs to %q, want consumer demo", composeDemoKey, owner)
	}
	for _, doc := range [][]string{{"docker-compose.yaml"}, {"docs", "operations.md"}} {
		if !strings.Contains(string(readRepoFile(t, doc...)), composeDemoKey) {
			t.Errorf("%s does not show the demo key %s", filepath.Join(doc...), composeDemoKey)
		}
	}
}

func TestComposeCheckCatchesBreakage(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*types.Project)
		want   string
	}{
		{"sidecar in its own namespace", func(p *types.Project) {
			setService(p, gatewayService, func(s *types.ServiceConfig) { s.NetworkMode = "" })
		}, "network_mode"},
		{"redis without health check", func(p *types.Project) { setService(p, "redis", func(s *types.ServiceConfig) { s.HealthCheck = nil }) }, "no health check"},
		{"mock on another port", func(p *types.Project) {
			setService(p, "mock-llm", func(s *types.ServiceConfig) { s.Command = types.ShellCommand{"-listen", "0.0.0.0:9999"} })
		}, "expects mock-llm:8081"},
		{"missing mount source", func(p *types.Project) {
			setService(p, "prometheus", func(s *types.ServiceConfig) { s.Volumes[0].Source += "-gone" })
		}, "bind mount source"},
		{"envoy config elsewhere", func(p *types.Project) {
			setService(p, envoyService, func(s *types.ServiceConfig) { s.Volumes[0].Source = repoPath("envoy", "envoy.local.yaml") })
		}, "want envoy/envoy.yaml"},
		{"admin port unpublished", func(p *types.Project) {
			setService(p, envoyService, func(s *types.ServiceConfig) { s.Ports = s.Ports[:2] })
		}, "admin port 9090"},
		{"unknown build target", func(p *types.Project) {
			setService(p, "mock-llm", func(s *types.ServiceConfig) { s.Build.Target = "mock" })
		}, `target "mock"`},
		{"secret env missing", func(p *types.Project) {
			setService(p, gatewayService, func(s *types.ServiceConfig) { delete(s.Environment, "GATEWAY_ADMIN_TOKEN") })
		}, "GATEWAY_ADMIN_TOKEN"},
	}
	ef := loadEnvoyFacts(t, "envoy", "envoy.yaml")
	df := loadDockerfile(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCompose(t)
			if errs := checkCompose(p, ef, df); len(errs) > 0 {
				t.Fatalf("compose is broken before mutation: %v", errs)
			}
			tc.mutate(p)
			wantProblem(t, checkCompose(p, ef, df), tc.want)
		})
	}
}

// setService edits a service in place (Services holds values, not pointers).
func setService(p *types.Project, name string, edit func(*types.ServiceConfig)) {
	s := p.Services[name]
	s.Volumes = slices.Clone(s.Volumes)
	s.Ports = slices.Clone(s.Ports)
	edit(&s)
	p.Services[name] = s
}
