package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

const (
	collectorService  = "otel-collector"
	prometheusService = "prometheus"
	grafanaService    = "grafana"
	// Paths the official images read by default.
	prometheusConfig = "/etc/prometheus/prometheus.yml"
	grafanaProvision = "/etc/grafana/provisioning"
)

// collectorConfig is the part of an OpenTelemetry Collector config the stack
// depends on.
type collectorConfig struct {
	Receivers map[string]struct {
		Protocols map[string]struct {
			Endpoint string `json:"endpoint"`
		} `json:"protocols"`
	} `json:"receivers"`
	Processors map[string]any `json:"processors"`
	Exporters  map[string]struct {
		Endpoint string `json:"endpoint"`
	} `json:"exporters"`
	Extensions map[string]any `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

func readServiceYAML(s types.ServiceConfig, inContainer string, into any) error {
	src, err := hostFile(s, inContainer)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("compose %s: %w", s.Name, err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("compose %s: %s: %w", s.Name, src, err)
	}
	return nil
}

func missingKeys[V any](names []string, defined map[string]V) []string {
	var out []string
	for _, n := range names {
		if _, ok := defined[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// checkComposeOTel: the sidecar exports to the collector's OTLP gRPC receiver,
// the collector's pipelines are wired, and its exporters reach stack services.
func checkComposeOTel(p *types.Project) []error {
	s := p.Services[collectorService]
	cfgPath, ok := flagValue(s.Command, "config")
	if !ok {
		return []error{fmt.Errorf("compose %s: no --config in %v", collectorService, s.Command)}
	}
	var cc collectorConfig
	if err := readServiceYAML(s, cfgPath, &cc); err != nil {
		return []error{err}
	}
	var errs []error
	for name, pl := range cc.Service.Pipelines {
		missing := missingKeys(pl.Receivers, cc.Receivers)
		missing = append(missing, missingKeys(pl.Processors, cc.Processors)...)
		missing = append(missing, missingKeys(pl.Exporters, cc.Exporters)...)
		if len(missing) > 0 || len(pl.Receivers) == 0 || len(pl.Exporters) == 0 {
			errs = append(errs, fmt.Errorf("collector pipeline %s: undefined or missing components %v", name, missing))
		}
	}
	if m := missingKeys(cc.Service.Extensions, cc.Extensions); len(m) > 0 {
		errs = append(errs, fmt.Errorf("collector: undefined extensions %v", m))
	}
	for name, e := range cc.Exporters {
		hp, err := parseHostPort(e.Endpoint)
		if _, ok := resolveHost(p, hp.Host); err != nil || !ok {
			errs = append(errs, fmt.Errorf("collector exporter %s: endpoint %q is not a stack service", name, e.Endpoint))
		}
	}
	recv, err := parseHostPort(cc.Receivers["otlp"].Protocols["grpc"].Endpoint)
	if err != nil {
		return append(errs, fmt.Errorf("collector: otlp grpc receiver: %w", err))
	}
	endpoint := serviceEnv(p.Services[gatewayService])("OTEL_EXPORTER_OTLP_ENDPOINT")
	u, err := url.Parse(endpoint)
	host, _ := resolveHost(p, u.Hostname())
	if err != nil || host != collectorService || u.Port() != strconv.Itoa(recv.Port) {
		errs = append(errs, fmt.Errorf("compose gateway: OTEL_EXPORTER_OTLP_ENDPOINT %q is not the collector's OTLP gRPC receiver (:%d)", endpoint, recv.Port))
	}
	return errs
}

// promConfig is the part of prometheus.yml the stack depends on.
type promConfig struct {
	RuleFiles     []string `json:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

// composeListeners are the ports known to be served in each network namespace,
// with the path their metrics are on.
func composeListeners(p *types.Project, ef envoyFacts) (map[string]map[int]string, error) {
	cfg, err := composeGatewayConfig(p)
	if err != nil {
		return nil, err
	}
	admin, err := parseHostPort(cfg.Server.AdminListen)
	if err != nil {
		return nil, err
	}
	mock, err := listenFlagPort(p.Services["mock-llm"].Command)
	if err != nil {
		return nil, err
	}
	envoyNS := map[int]string{ef.Admin.Port: "/stats/prometheus", admin.Port: "/metrics"}
	for _, l := range ef.Listeners {
		envoyNS[l.Port] = ""
	}
	return map[string]map[int]string{
		netnsOwner(p, gatewayService): envoyNS,
		"mock-llm":                    {mock: "/metrics"},
		prometheusService:             {9090: "/metrics"},
	}, nil
}

// checkComposePrometheus: every static target is a stack service, and targets
// in namespaces whose ports are known hit a port that serves metrics, on the
// right path.
func checkComposePrometheus(p *types.Project, ef envoyFacts) []error {
	s := p.Services[prometheusService]
	var pc promConfig
	if err := readServiceYAML(s, prometheusConfig, &pc); err != nil {
		return []error{err}
	}
	known, err := composeListeners(p, ef)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, rf := range pc.RuleFiles {
		src, err := hostFile(s, path.Join(path.Dir(prometheusConfig), rf))
		if m, _ := filepath.Glob(src); err != nil || len(m) == 0 {
			errs = append(errs, fmt.Errorf("prometheus: rule_files %q matches no mounted file", rf))
		}
	}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				errs = append(errs, checkScrapeTarget(p, known, sc.JobName, cmpOr(sc.MetricsPath, "/metrics"), target)...)
			}
		}
	}
	if len(pc.ScrapeConfigs) == 0 {
		errs = append(errs, fmt.Errorf("prometheus: no scrape configs"))
	}
	return errs
}

func checkScrapeTarget(p *types.Project, known map[string]map[int]string, job, metricsPath, target string) []error {
	hp, err := parseHostPort(target)
	if err != nil {
		return []error{fmt.Errorf("prometheus job %s: %w", job, err)}
	}
	name, ok := resolveHost(p, hp.Host)
	if hp.Host == "localhost" {
		name, ok = prometheusService, true
	}
	if !ok {
		return []error{fmt.Errorf("prometheus job %s: target %s is not a stack service", job, target)}
	}
	ports, tracked := known[name]
	if !tracked {
		return nil
	}
	want, serves := ports[hp.Port]
	switch {
	case !serves:
		return []error{fmt.Errorf("prometheus job %s: nothing listens on %s (service %s)", job, target, name)}
	case want != metricsPath:
		return []error{fmt.Errorf("prometheus job %s: %s serves metrics on %q, job scrapes %q", job, target, want, metricsPath)}
	}
	return nil
}

// checkComposeGrafana: provisioned dashboard folders are mounted and hold
// dashboards, and datasources point at stack services.
func checkComposeGrafana(p *types.Project) []error {
	s := p.Services[grafanaService]
	var errs []error
	var providers, datasources int
	for _, kind := range []string{"dashboards", "datasources"} {
		dir := path.Join(grafanaProvision, kind)
		src, err := hostFile(s, dir)
		if err != nil {
			return []error{err}
		}
		files, _ := filepath.Glob(filepath.Join(src, "*.y*ml"))
		for _, f := range files {
			var doc struct {
				Providers []struct {
					Options struct {
						Path string `json:"path"`
					} `json:"options"`
				} `json:"providers"`
				Datasources []struct {
					Name string `json:"name"`
					URL  string `json:"url"`
				} `json:"datasources"`
			}
			if err := readServiceYAML(s, path.Join(dir, filepath.Base(f)), &doc); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, pr := range doc.Providers {
				providers++
				errs = append(errs, checkDashboardDir(s, pr.Options.Path)...)
			}
			for _, ds := range doc.Datasources {
				datasources++
				u, err := url.Parse(ds.URL)
				if _, ok := resolveHost(p, u.Hostname()); err != nil || !ok {
					errs = append(errs, fmt.Errorf("grafana datasource %s: %q is not a stack service", ds.Name, ds.URL))
				}
			}
		}
	}
	if providers == 0 || datasources == 0 {
		errs = append(errs, fmt.Errorf("grafana: %d dashboard providers and %d datasources provisioned, want both", providers, datasources))
	}
	return errs
}

func checkDashboardDir(s types.ServiceConfig, dir string) []error {
	src, err := hostFile(s, dir)
	if err != nil {
		return []error{fmt.Errorf("grafana dashboards %q: %w", dir, err)}
	}
	var found []string
	_ = filepath.WalkDir(src, func(p string, _ os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".json" {
			found = append(found, p)
		}
		return nil
	})
	if len(found) == 0 {
		return []error{fmt.Errorf("grafana dashboards %q (%s): no dashboard JSON", dir, src)}
	}
	return nil
}

func TestComposeObservability(t *testing.T) {
	p := loadCompose(t)
	ef := loadEnvoyFacts(t, "envoy", "envoy.yaml")
	t.Run("otel", func(t *testing.T) { reportAll(t, checkComposeOTel(p)) })
	t.Run("prometheus", func(t *testing.T) { reportAll(t, checkComposePrometheus(p, ef)) })
	t.Run("grafana", func(t *testing.T) { reportAll(t, checkComposeGrafana(p)) })
}

func TestComposeObservabilityCatchesBreakage(t *testing.T) {
	ef := loadEnvoyFacts(t, "envoy", "envoy.yaml")
	t.Run("sidecar exports elsewhere", func(t *testing.T) {
		p := loadCompose(t)
		endpoint := "http://jaeger:4317"
		setService(p, gatewayService, func(s *types.ServiceConfig) { s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = &endpoint })
		wantProblem(t, checkComposeOTel(p), "OTEL_EXPORTER_OTLP_ENDPOINT")
	})
	t.Run("scrape target on a closed port", func(t *testing.T) {
		p := loadCompose(t)
		known, err := composeListeners(p, ef)
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, checkScrapeTarget(p, known, "gw", "/metrics", "envoy:9999"), "nothing listens")
		wantProblem(t, checkScrapeTarget(p, known, "envoy", "/metrics", "envoy:9901"), "/stats/prometheus")
		wantProblem(t, checkScrapeTarget(p, known, "x", "/metrics", "nowhere:80"), "not a stack service")
		if errs := checkScrapeTarget(p, known, "gw", "/metrics", "gateway:9090"); len(errs) > 0 {
			t.Errorf("gateway:9090 through the network alias: %v", errs)
		}
	})
	t.Run("dashboards not mounted", func(t *testing.T) {
		p := loadCompose(t)
		setService(p, grafanaService, func(s *types.ServiceConfig) {
			s.Volumes = slices.DeleteFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target != grafanaProvision })
		})
		if errs := checkComposeGrafana(p); len(errs) == 0 {
			t.Error("no problem reported with the dashboards directory unmounted")
		}
	})
}
