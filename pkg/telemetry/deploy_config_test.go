package telemetry

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDeployChecksCatchMistakes feeds the real dashboards, each with one
// typical mistake, through the checks: a check that cannot fail is no check.
func TestDeployChecksCatchMistakes(t *testing.T) {
	ix := knownMetrics(t)
	uid := provisionedDatasourceUID(t)
	tests := []struct {
		name, file, old, new, want string
	}{
		{"metric typo", "gateway.json", "gateway_requests_total{", "gateway_request_total{", "unknown metric gateway_request_total"},
		{"label typo", "gateway.json", "sum by (consumer)", "sum by (consumr)", "label consumr"},
		{"matcher label typo", "gateway.json", `status_class=\"5xx\"`, `status=\"5xx\"`, "label status"},
		{"bucket of a counter", "gateway.json", "rate(gateway_tokens_total{", "rate(gateway_tokens_total_bucket{", "unknown metric gateway_tokens_total_bucket"},
		{"variable on a typo", "gateway.json", "label_values(gateway_requests_total, consumer)", "label_values(gateway_requests_totl, consumer)", "unknown metric gateway_requests_totl"},
		{"wrong datasource", "gateway.json", `"uid": "prometheus"`, `"uid": "Prometheus"`, "datasource"},
		{"envoy stat typo", "envoy.json", "envoy_cluster_upstream_rq_retry{", "envoy_cluster_upstream_rq_retries{", "unknown metric envoy_cluster_upstream_rq_retries"},
		{"envoy counter given _total", "envoy.json", "envoy_http_ext_proc_message_timeouts[", "envoy_http_ext_proc_message_timeouts_total[", "unknown metric envoy_http_ext_proc_message_timeouts_total"},
		{"envoy label typo", "envoy.json", `envoy_cluster_name=~\"$cluster\"`, `cluster_name=~\"$cluster\"`, "label cluster_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := os.ReadFile(deployPath("grafana", "dashboards", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), tt.old) {
				t.Fatalf("%s no longer contains %q; update the mutation", tt.file, tt.old)
			}
			broken := strings.Replace(string(raw), tt.old, tt.new, 1)
			qs, problems := dashboardQueries(tt.file, []byte(broken), uid)
			problems = append(problems, checkQueries(qs, ix)...)
			if !containsSubstring(problems, tt.want) {
				t.Errorf("no problem mentions %q; got %q", tt.want, problems)
			}
		})
	}
	t.Run("promtool rejects broken syntax", func(t *testing.T) {
		if _, err := promtoolCheckExprs(t, []query{{"test", `sum(rate(gateway_requests_total[$__rate_interval])`}}); err == nil {
			t.Error("promtool accepted an unbalanced expression")
		}
	})
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestPrometheusConfig(t *testing.T) {
	path := deployPath("prometheus", "prometheus.yml")
	if out, err := runCmd(promtoolPath(t), "check", "config", path); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			jobs[sc.JobName] = sc.MetricsPath + " " + strings.Join(st.Targets, ",")
		}
	}
	for job, want := range map[string]string{"gateway": "/metrics gateway:9090", "envoy": "/stats/prometheus envoy:9901"} {
		t.Run(job, func(t *testing.T) {
			if jobs[job] != want {
				t.Errorf("job %s scrapes %q, want %q", job, jobs[job], want)
			}
		})
	}
	t.Run("queries select existing jobs", func(t *testing.T) {
		jobRE := regexp.MustCompile(`job="([^"]*)"`)
		for _, q := range append(allDashboardQueries(t), alertQueries(t)...) {
			for _, m := range jobRE.FindAllStringSubmatch(q.expr, -1) {
				if _, ok := jobs[m[1]]; !ok {
					t.Errorf("%s selects job %q, which prometheus.yml does not scrape", q.where, m[1])
				}
			}
		}
	})
}

func TestGrafanaDashboardProvisioning(t *testing.T) {
	raw, err := os.ReadFile(deployPath("grafana", "provisioning", "dashboards", "dashboards.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.APIVersion != 1 || len(cfg.Providers) != 1 || cfg.Providers[0].Type != "file" ||
		cfg.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard provisioning = %+v, want one file provider at /var/lib/grafana/dashboards", cfg)
	}
}
