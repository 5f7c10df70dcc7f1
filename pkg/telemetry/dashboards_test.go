package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/yaml"
)

// These tests keep deploy/ honest: every query in the Grafana dashboards and
// Prometheus alerts must name a series the sidecar exports or a verified
// Envoy stat, with labels those series carry, and must parse with promtool.

func deployPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "deploy"}, parts...)...)
}

// metricIndex maps every series name a query may select to its label names.
type metricIndex map[string]map[string]bool

func (ix metricIndex) add(name, kind string, labels []string) error {
	series := []string{name}
	switch kind {
	case "histogram":
		series = []string{name + "_bucket", name + "_sum", name + "_count"}
	case "summary":
		series = append(series, name+"_sum", name+"_count")
	case "counter", "gauge", "untyped":
	default:
		return fmt.Errorf("%s: unknown type %q", name, kind)
	}
	for _, s := range series {
		if _, dup := ix[s]; dup {
			return fmt.Errorf("%s listed twice", s)
		}
		set := map[string]bool{}
		for _, l := range labels {
			set[l] = true
		}
		if strings.HasSuffix(s, "_bucket") {
			set["le"] = true
		}
		if kind == "summary" && s == name {
			set["quantile"] = true
		}
		ix[s] = set
	}
	return nil
}

// knownMetrics gathers the sidecar's families after exercising every method,
// adds the Envoy list and Prometheus' own per-target series.
func knownMetrics(t *testing.T) metricIndex {
	t.Helper()
	ix := metricIndex{}
	m, reg := newTestMetrics(t)
	exerciseAll(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		labels := map[string]bool{}
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		kind := strings.ToLower(f.GetType().String())
		if f.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
			kind = "histogram"
		}
		if err := ix.add(f.GetName(), kind, sortedKeys(labels)); err != nil {
			t.Fatal(err)
		}
	}
	for _, synthetic := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"} {
		if err := ix.add(synthetic, "gauge", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := loadEnvoyMetrics(ix, deployPath("grafana", "envoy-metrics.txt")); err != nil {
		t.Fatal(err)
	}
	return ix
}

// loadEnvoyMetrics reads "<name> <type> [labels...]" lines.
func loadEnvoyMetrics(ix metricIndex, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(fields[0], "envoy_") {
			return fmt.Errorf("%s:%d: want \"envoy_<name> <type> [labels]\", got %q", path, n, line)
		}
		if err := ix.add(fields[0], fields[1], fields[2:]); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// query is one PromQL expression and where it was found.
type query struct{ where, expr string }

// checkQueries reports unknown metrics and labels. job and instance are
// attached by Prometheus to every series.
func checkQueries(queries []query, ix metricIndex) []string {
	var problems []string
	for _, q := range queries {
		refs, err := scanPromQL(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		if len(refs.metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no metric in %q", q.where, q.expr))
		}
		allowed := map[string]bool{"job": true, "instance": true}
		for _, m := range refs.metrics {
			labels, ok := ix[m]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown metric %s", q.where, m))
			}
			for l := range labels {
				allowed[l] = true
			}
		}
		for _, l := range refs.labels {
			if !allowed[l] {
				problems = append(problems, fmt.Sprintf("%s: label %s is not on %v", q.where, l, refs.metrics))
			}
		}
	}
	return problems
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    *struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string             `json:"refId"`
		Expr       string             `json:"expr"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // inside collapsed rows
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string             `json:"name"`
			Type       string             `json:"type"`
			Datasource *grafanaDatasource `json:"datasource"`
			Query      json.RawMessage    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValuesRE matches Grafana's label_values(metric{...}, label) helper.
var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// dashboardQueries extracts every PromQL expression of a dashboard and
// reports structural problems (datasource, ids, layout).
func dashboardQueries(name string, raw []byte, dsUID string) ([]query, []string) {
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", name, err)}
	}
	var qs []query
	var problems []string
	if d.UID == "" || d.Title == "" {
		problems = append(problems, name+": dashboard needs a uid and a title")
	}
	checkDS := func(where string, ds *grafanaDatasource) {
		if ds == nil || ds.UID != dsUID || ds.Type != "prometheus" {
			problems = append(problems, fmt.Sprintf("%s: datasource %+v, want prometheus uid %q", where, ds, dsUID))
		}
	}
	for _, v := range d.Templating.List {
		where := fmt.Sprintf("%s variable %s", name, v.Name)
		if v.Type != "query" {
			continue
		}
		checkDS(where, v.Datasource)
		q, err := variableQuery(v.Query)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		qs = append(qs, query{where, q})
	}
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			where := fmt.Sprintf("%s panel %q", name, p.Title)
			if ids[p.ID] || p.ID == 0 || p.Title == "" || p.GridPos == nil {
				problems = append(problems, where+": needs a unique id, a title and a gridPos")
			}
			ids[p.ID] = true
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				problems = append(problems, where+": no queries")
			}
			for _, tg := range p.Targets {
				checkDS(where+" target "+tg.RefID, tg.Datasource)
				qs = append(qs, query{where + " target " + tg.RefID, tg.Expr})
			}
		}
	}
	walk(d.Panels)
	return qs, problems
}

// variableQuery turns a label_values() variable into an equivalent PromQL
// expression, so its metric and label are checked like any query.
func variableQuery(raw json.RawMessage) (string, error) {
	var q string
	if err := json.Unmarshal(raw, &q); err != nil {
		var obj struct{ Query string }
		if err := json.Unmarshal(raw, &obj); err != nil {
			return "", fmt.Errorf("query: %w", err)
		}
		q = obj.Query
	}
	m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		return "", fmt.Errorf("only label_values(metric, label) variables are checked, got %q", q)
	}
	return fmt.Sprintf("group by (%s) (%s%s)", m[3], m[1], m[2]), nil
}

// provisionedDatasourceUID reads the uid dashboards must reference.
func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(deployPath("grafana", "provisioning", "datasources", "prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Datasources) != 1 || cfg.Datasources[0].Type != "prometheus" ||
		cfg.Datasources[0].URL != "http://prometheus:9090" || cfg.Datasources[0].UID == "" {
		t.Fatalf("datasource provisioning = %+v, want one prometheus at http://prometheus:9090 with a uid", cfg.Datasources)
	}
	return cfg.Datasources[0].UID
}

// allDashboardQueries loads every dashboard, failing on structural problems.
func allDashboardQueries(t *testing.T) []query {
	t.Helper()
	uid := provisionedDatasourceUID(t)
	files, err := filepath.Glob(deployPath("grafana", "dashboards", "*.json"))
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v, %v (want gateway.json and envoy.json)", files, err)
	}
	var all []query
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		qs, problems := dashboardQueries(filepath.Base(f), raw, uid)
		for _, p := range problems {
			t.Error(p)
		}
		all = append(all, qs...)
	}
	return all
}

// alertQueries loads the expressions of deploy/prometheus/alerts.yml.
func alertQueries(t *testing.T) []query {
	t.Helper()
	raw, err := os.ReadFile(deployPath("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	var qs []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{fmt.Sprintf("alerts.yml %s/%s%s", g.Name, r.Alert, r.Record), r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatal("alerts.yml has no rules")
	}
	return qs
}

func TestDeployQueriesNameExportedMetrics(t *testing.T) {
	ix := knownMetrics(t)
	t.Run("dashboards", func(t *testing.T) {
		for _, p := range checkQueries(allDashboardQueries(t), ix) {
			t.Error(p)
		}
	})
	t.Run("alerts", func(t *testing.T) {
		for _, p := range checkQueries(alertQueries(t), ix) {
			t.Error(p)
		}
	})
}

// grafanaVarRE matches $var, ${var} and ${var:format}.
var grafanaVarRE = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// promtoolCheckExprs writes expressions as recording rules, with Grafana
// variables replaced by plausible values, and asks promtool to parse them.
func promtoolCheckExprs(t *testing.T, qs []query) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	for i, q := range qs {
		expr := grafanaVarRE.ReplaceAllStringFunc(q.expr, func(v string) string {
			if strings.HasPrefix(strings.Trim(v, "${}"), "__") {
				return "5m" // $__rate_interval, $__interval, $__range
			}
			return ".*" // multi-value variables sit inside =~ matchers
		})
		line, _ := json.Marshal(expr) // a JSON string is a valid YAML string
		fmt.Fprintf(&b, "      - record: check:expr_%d\n        expr: %s\n", i, line)
	}
	path := filepath.Join(t.TempDir(), "exprs.yml")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return runCmd(promtoolPath(t), "check", "rules", path)
}

func TestDeployQueriesParseWithPromtool(t *testing.T) {
	qs := append(allDashboardQueries(t), alertQueries(t)...)
	if out, err := promtoolCheckExprs(t, qs); err != nil {
		t.Fatalf("promtool rejects a dashboard or alert expression: %v\n%s", err, out)
	}
	if out, err := runCmd(promtoolPath(t), "check", "rules", deployPath("prometheus", "alerts.yml")); err != nil {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
}
