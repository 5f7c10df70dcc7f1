package deploy

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/llm-gateway/gateway/pkg/config"
)

const (
	k8sDeployment    = "llm-gateway"
	sidecarContainer = "gateway"
	envoyContainer   = "envoy"
	gatewayConfigMap = "gateway-config"
	envoyConfigMap   = "envoy-config"
)

func loadK8s(t testing.TB) *manifestSet {
	t.Helper()
	s, err := loadManifests(repoPath("k8s"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *manifestSet) deployment(name string) *appsv1.Deployment {
	i := slices.IndexFunc(s.Deployments, func(d *appsv1.Deployment) bool { return d.Name == name })
	if i < 0 {
		return nil
	}
	return s.Deployments[i]
}

// mountedConfig returns the ConfigMap file a container reads through the path
// given by one of its flags.
func (s *manifestSet) mountedConfig(pod *corev1.PodSpec, c *corev1.Container, flag, wantCM string) ([]byte, error) {
	file, ok := flagValue(append(slices.Clone(c.Command), c.Args...), flag)
	if !ok {
		return nil, fmt.Errorf("container %s: no -%s flag", c.Name, flag)
	}
	m, vol, key, err := mountFor(pod, c, file)
	switch {
	case err != nil:
		return nil, err
	case vol.ConfigMap == nil || vol.ConfigMap.Name != wantCM:
		return nil, fmt.Errorf("container %s: %s is not from ConfigMap %s", c.Name, file, wantCM)
	case m.SubPath != "":
		// subPath mounts never see ConfigMap updates.
		return nil, fmt.Errorf("container %s: config mount uses subPath", c.Name)
	}
	data, ok := s.ConfigMapFiles[wantCM][key]
	if !ok {
		return nil, fmt.Errorf("container %s: ConfigMap %s has no key %s", c.Name, wantCM, key)
	}
	return data, nil
}

func portNumber(c *corev1.Container, p intstr.IntOrString) int {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

func hasContainerPort(c *corev1.Container, port int) bool {
	return portNumber(c, intstr.FromInt(port)) == port
}

// checkAgainstConfigs ties the gateway pod to the files it runs: envoy.yaml and
// gateway.yaml as mounted, their ports, secrets, probes and shutdown timing.
func (s *manifestSet) checkAgainstConfigs() []error {
	d := s.deployment(k8sDeployment)
	if d == nil {
		return []error{fmt.Errorf("no Deployment %s", k8sDeployment)}
	}
	pod := &d.Spec.Template.Spec
	gw, ev := container(pod, sidecarContainer), container(pod, envoyContainer)
	if gw == nil || ev == nil {
		return []error{fmt.Errorf("Deployment %s: containers %s and %s are required", d.Name, sidecarContainer, envoyContainer)}
	}
	var errs []error
	if gw.RestartPolicy == nil || *gw.RestartPolicy != corev1.ContainerRestartPolicyAlways || !slices.ContainsFunc(pod.InitContainers, func(c corev1.Container) bool { return c.Name == gw.Name }) {
		errs = append(errs, fmt.Errorf("%s: the sidecar must be a native sidecar (init container, restartPolicy Always) so it starts before and stops after Envoy", d.Name))
	}
	envoyYAML, err1 := s.mountedConfig(pod, ev, "c", envoyConfigMap)
	gwYAML, err2 := s.mountedConfig(pod, gw, "config", gatewayConfigMap)
	if err1 != nil || err2 != nil {
		return append(errs, slices.DeleteFunc([]error{err1, err2}, func(e error) bool { return e == nil })...)
	}
	ef, err := parseEnvoy(envoyYAML)
	if err != nil {
		return append(errs, err)
	}
	cfg, asked, err := parseGatewayConfig(gwYAML, func(string) string { return "set-in-cluster" })
	if err != nil {
		return append(errs, err)
	}
	errs = append(errs, checkSidecarAgainstEnvoy(cfg, ef)...)
	errs = append(errs, checkEnvSet(gw, asked)...)
	errs = append(errs, checkPodPorts(d, gw, ev, cfg, ef)...)
	errs = append(errs, s.checkRedisAddrs(cfg)...)
	errs = append(errs, checkShutdown(pod, ev, cfg)...)
	return append(errs, checkMemLimit(gw)...)
}

// checkEnvSet: every variable the config reads secrets from is set.
func checkEnvSet(c *corev1.Container, names []string) []error {
	var errs []error
	for _, n := range names {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == n }) {
			errs = append(errs, fmt.Errorf("container %s: the config reads %s, which is not in its env", c.Name, n))
		}
	}
	return errs
}

func probeIs(p *corev1.Probe, c *corev1.Container, port int, path string) bool {
	return p != nil && p.HTTPGet != nil && p.HTTPGet.Path == path && portNumber(c, p.HTTPGet.Port) == port
}

// checkPodPorts: listeners, container ports, probes and scrape annotations agree.
func checkPodPorts(d *appsv1.Deployment, gw, ev *corev1.Container, cfg *config.Config, ef envoyFacts) []error {
	var errs []error
	grpc, _ := parseHostPort(cfg.Server.GRPCListen)
	admin, err := parseHostPort(cfg.Server.AdminListen)
	if err != nil || !admin.wildcard() {
		errs = append(errs, fmt.Errorf("gateway.yaml: admin_listen %q must listen on all addresses for kubelet probes", cfg.Server.AdminListen))
	}
	if !ef.Admin.wildcard() {
		errs = append(errs, fmt.Errorf("envoy.yaml: admin address %s is unreachable for kubelet probes", ef.Admin))
	}
	for _, want := range []struct {
		c    *corev1.Container
		port int
	}{{gw, grpc.Port}, {gw, admin.Port}, {ev, ef.Admin.Port}, {ev, ef.Listeners[0].Port}} {
		if !hasContainerPort(want.c, want.port) {
			errs = append(errs, fmt.Errorf("container %s: port %d is not declared", want.c.Name, want.port))
		}
	}
	if !probeIs(gw.ReadinessProbe, gw, admin.Port, "/readyz") || !probeIs(gw.StartupProbe, gw, admin.Port, "/readyz") || !probeIs(gw.LivenessProbe, gw, admin.Port, "/healthz") {
		errs = append(errs, fmt.Errorf("container %s: probes must be startup+readiness /readyz and liveness /healthz on %d", gw.Name, admin.Port))
	}
	if !probeIs(ev.ReadinessProbe, ev, ef.Admin.Port, "/ready") {
		errs = append(errs, fmt.Errorf("container %s: readiness must be /ready on admin port %d", ev.Name, ef.Admin.Port))
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/port"] != strconv.Itoa(admin.Port) || a["prometheus.io/path"] != "/metrics" {
		errs = append(errs, fmt.Errorf("Deployment %s: prometheus.io annotations %v do not point at %d/metrics", d.Name, a, admin.Port))
	}
	return errs
}

// checkRedisAddrs: the quota store is a Service of this set on that port.
func (s *manifestSet) checkRedisAddrs(cfg *config.Config) []error {
	var errs []error
	for _, a := range cfg.Quota.Redis.Addrs {
		hp, err := parseHostPort(a)
		ok := err == nil && slices.ContainsFunc(s.Services, func(svc *corev1.Service) bool {
			return svc.Name == hp.Host && slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == hp.Port })
		})
		if !ok {
			errs = append(errs, fmt.Errorf("gateway.yaml: quota.redis address %q is not a Service port here", a))
		}
	}
	return errs
}

var sleepCmd = regexp.MustCompile(`\bsleep (\d+)`)

// preStopSeconds is how long a container's preStop hook holds it.
func preStopSeconds(c *corev1.Container) int {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0
	}
	if sl := c.Lifecycle.PreStop.Sleep; sl != nil {
		return int(sl.Seconds)
	}
	if ex := c.Lifecycle.PreStop.Exec; ex != nil {
		if m := sleepCmd.FindAllStringSubmatch(strings.Join(ex.Command, " "), -1); len(m) > 0 {
			n, _ := strconv.Atoi(m[len(m)-1][1])
			return n
		}
	}
	return 0
}

// checkShutdown: Envoy drains inside its preStop, and the grace period covers
// that plus the sidecar's own drain, which starts after Envoy exits.
func checkShutdown(pod *corev1.PodSpec, ev *corev1.Container, cfg *config.Config) []error {
	var errs []error
	hold := preStopSeconds(ev)
	drain, _ := flagValue(ev.Args, "drain-time-s")
	drainS, err := strconv.Atoi(drain)
	if err != nil || hold <= drainS {
		errs = append(errs, fmt.Errorf("container %s: preStop holds %ds, want longer than --drain-time-s %q", ev.Name, hold, drain))
	}
	need := time.Duration(hold)*time.Second + cfg.Server.ShutdownTimeout.D()
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
		errs = append(errs, fmt.Errorf("terminationGracePeriodSeconds must exceed Envoy's preStop (%ds) + shutdown_timeout (%s)", hold, cfg.Server.ShutdownTimeout.D()))
	}
	return errs
}

var memLimitRe = regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB)?$`)

// checkMemLimit: GOMEMLIMIT, when set, is below the container's memory limit.
func checkMemLimit(c *corev1.Container) []error {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
	if i < 0 {
		return nil
	}
	m := memLimitRe.FindStringSubmatch(c.Env[i].Value)
	if m == nil {
		return []error{fmt.Errorf("container %s: GOMEMLIMIT %q is not understood", c.Name, c.Env[i].Value)}
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	n <<= map[string]int{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
	if lim := c.Resources.Limits.Memory(); lim.IsZero() || n >= lim.Value() {
		return []error{fmt.Errorf("container %s: GOMEMLIMIT %s is not below the memory limit %s", c.Name, c.Env[i].Value, lim)}
	}
	return nil
}

// checkCopies: kustomize cannot read outside k8s/, so k8s/ holds copies of
// the canonical configs; they must not drift.
func (s *manifestSet) checkCopies(canonical map[string][]byte) []error {
	var errs []error
	for cmKey, want := range canonical {
		cm, key, _ := strings.Cut(cmKey, "/")
		if !bytes.Equal(s.ConfigMapFiles[cm][key], want) {
			errs = append(errs, fmt.Errorf("k8s/%s differs from its canonical copy; run: cp envoy/envoy.yaml config/gateway.yaml k8s/", key))
		}
	}
	g := slices.IndexFunc(s.Kust.ConfigMapGenerator, func(g configMapGenerator) bool { return g.Name == gatewayConfigMap })
	if g < 0 || s.Kust.ConfigMapGenerator[g].Options == nil || !s.Kust.ConfigMapGenerator[g].Options.DisableNameSuffixHash {
		errs = append(errs, fmt.Errorf("configMapGenerator %s needs a stable name (disableNameSuffixHash) so updates hot-reload", gatewayConfigMap))
	}
	return errs
}

func canonicalConfigs(t testing.TB) map[string][]byte {
	return map[string][]byte{
		envoyConfigMap + "/envoy.yaml":     readRepoFile(t, "envoy", "envoy.yaml"),
		gatewayConfigMap + "/gateway.yaml": readRepoFile(t, "config", "gateway.yaml"),
	}
}

func allProblems(t testing.TB, s *manifestSet) []error {
	errs := s.check()
	errs = append(errs, s.checkAgainstConfigs()...)
	return append(errs, s.checkCopies(canonicalConfigs(t))...)
}

func TestK8sManifests(t *testing.T) {
	s := loadK8s(t)
	if len(s.Deployments) == 0 || len(s.Services) < 2 || len(s.HPAs) == 0 || len(s.PDBs) == 0 || len(s.NetworkPolicies) == 0 || len(s.Secrets) == 0 {
		t.Fatalf("k8s/: expected a Deployment, Services, HPA, PDB, NetworkPolicy and Secret; loaded %d objects", len(s.Objects))
	}
	reportAll(t, allProblems(t, s))
}

func TestK8sStrictDecoding(t *testing.T) {
	s := &manifestSet{}
	err := s.decode([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  selectr: {a: b}\n"))
	if err == nil || !strings.Contains(err.Error(), "selectr") {
		t.Errorf("misspelt field accepted: %v", err)
	}
	if err := s.decode([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n")); err == nil {
		t.Error("unexpected kind accepted")
	}
}

func TestK8sCheckCatchesBreakage(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*manifestSet, *corev1.PodSpec)
		want   string
	}{
		{"service targetPort typo", func(s *manifestSet, _ *corev1.PodSpec) {
			s.Services[0].Spec.Ports[0].TargetPort = intstr.FromString("htp")
		}, "targetPort htp"},
		{"hpa targets nothing", func(s *manifestSet, _ *corev1.PodSpec) { s.HPAs[0].Spec.ScaleTargetRef.Name = "gone" }, "scaleTargetRef"},
		{"secret key missing", func(s *manifestSet, _ *corev1.PodSpec) { delete(s.Secrets[0].StringData, "admin-token") }, `has no key "admin-token"`},
		{"pdb selects nothing", func(s *manifestSet, _ *corev1.PodSpec) {
			s.PDBs[0].Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, "PodDisruptionBudget"},
		{"probe port unknown", func(_ *manifestSet, pod *corev1.PodSpec) {
			pod.InitContainers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("metrics")
		}, "readiness probe port metrics"},
		{"configmap missing", func(_ *manifestSet, pod *corev1.PodSpec) { pod.Volumes[0].ConfigMap.Name = "gw-cfg" }, `ConfigMap "gw-cfg" does not exist`},
		{"policy opens an unknown port", func(s *manifestSet, _ *corev1.PodSpec) {
			p := intstr.FromString("grpc")
			s.NetworkPolicies[0].Spec.Ingress[0].Ports[0].Port = &p
		}, "ingress port grpc"},
		{"redis egress port", func(s *manifestSet, _ *corev1.PodSpec) {
			p := intstr.FromInt(6380)
			s.NetworkPolicies[0].Spec.Egress[1].Ports[0].Port = &p
		}, "egress port 6380"},
		{"capabilities kept", func(_ *manifestSet, pod *corev1.PodSpec) { pod.Containers[0].SecurityContext.Capabilities = nil }, "drop ALL"},
		{"no memory limit", func(_ *manifestSet, pod *corev1.PodSpec) {
			delete(pod.Containers[0].Resources.Limits, corev1.ResourceMemory)
		}, "memory needs"},
		{"file not in kustomization", func(s *manifestSet, _ *corev1.PodSpec) { s.Kust.Resources = s.Kust.Resources[1:] }, "not listed"},
		{"grace too short", func(_ *manifestSet, pod *corev1.PodSpec) { pod.TerminationGracePeriodSeconds = ptr(int64(30)) }, "terminationGracePeriodSeconds"},
		{"secret env missing", func(_ *manifestSet, pod *corev1.PodSpec) { pod.InitContainers[0].Env = pod.InitContainers[0].Env[1:] }, "OPENAI_API_KEY"},
		{"sidecar as plain container", func(_ *manifestSet, pod *corev1.PodSpec) { pod.InitContainers[0].RestartPolicy = nil }, "native sidecar"},
		{"config via subPath", func(_ *manifestSet, pod *corev1.PodSpec) {
			pod.InitContainers[0].VolumeMounts[0].SubPath = "gateway.yaml"
		}, "subPath"},
		{"GOMEMLIMIT above limit", func(_ *manifestSet, pod *corev1.PodSpec) {
			pod.InitContainers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("256Mi")
		}, "GOMEMLIMIT"},
		{"config copy drifts", func(s *manifestSet, _ *corev1.PodSpec) {
			s.ConfigMapFiles[envoyConfigMap]["envoy.yaml"] = []byte("# stale\n")
		}, "k8s/envoy.yaml differs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := loadK8s(t)
			if errs := allProblems(t, s); len(errs) > 0 {
				t.Fatalf("k8s/ is broken before mutation: %v", errs)
			}
			tc.mutate(s, &s.deployment(k8sDeployment).Spec.Template.Spec)
			wantProblem(t, allProblems(t, s), tc.want)
		})
	}
}

func ptr[T any](v T) *T { return &v }
