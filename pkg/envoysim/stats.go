package envoysim

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// stats holds counters and gauges under Envoy's dotted stat names (for
// example "cluster.mock.upstream_rq_retry" or
// "http.llm_gateway.ext_proc.message_timeouts").
type stats struct {
	mu       sync.Mutex
	counters map[string]uint64
	gauges   map[string]int64
}

func newStats() *stats {
	return &stats{counters: map[string]uint64{}, gauges: map[string]int64{}}
}

func (s *stats) inc(name string) { s.add(name, 1) }

func (s *stats) add(name string, n uint64) {
	s.mu.Lock()
	s.counters[name] += n
	s.mu.Unlock()
}

func (s *stats) gaugeAdd(name string, delta int64) {
	s.mu.Lock()
	s.gauges[name] += delta
	s.mu.Unlock()
}

func (s *stats) gauge(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gauges[name]
}

func (s *stats) counter(name string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[name]
}

func (s *stats) snapshot() (map[string]uint64, map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[string]uint64, len(s.counters))
	for k, v := range s.counters {
		c[k] = v
	}
	g := make(map[string]int64, len(s.gauges))
	for k, v := range s.gauges {
		g[k] = v
	}
	return c, g
}

// writeText renders "name: value" lines like Envoy's /stats.
func (s *stats) writeText(w io.Writer) error {
	c, g := s.snapshot()
	lines := make([]string, 0, len(c)+len(g))
	for k, v := range c {
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	for k, v := range g {
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(lines)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

// promSample is one Prometheus sample after Envoy-style tag extraction.
type promSample struct {
	name, labels string
	value        int64
}

// writePrometheus renders the stats the way Envoy's /stats/prometheus does,
// with the cluster name, connection-manager prefix and response code pulled
// out into labels.
func (s *stats) writePrometheus(w io.Writer) error {
	c, g := s.snapshot()
	families := map[string][]promSample{}
	types := map[string]string{}
	for k, v := range c {
		ps := promName(k, int64(v))
		families[ps.name] = append(families[ps.name], ps)
		types[ps.name] = "counter"
	}
	for k, v := range g {
		ps := promName(k, v)
		families[ps.name] = append(families[ps.name], ps)
		types[ps.name] = "gauge"
	}
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "# TYPE %s %s\n", n, types[n])
		samples := families[n]
		sort.Slice(samples, func(i, j int) bool { return samples[i].labels < samples[j].labels })
		for _, ps := range samples {
			fmt.Fprintf(&b, "%s{%s} %d\n", n, ps.labels, ps.value)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var (
	promRespCode  = regexp.MustCompile(`^(.*_rq)_(\d{3})$`)
	promRespClass = regexp.MustCompile(`^(.*_rq)_(\d)xx$`)
)

// promName extracts the tags Envoy's default tag specifiers extract.
func promName(stat string, v int64) promSample {
	var labels []string
	rest := stat
	switch {
	case strings.HasPrefix(stat, "cluster."):
		name, tail, _ := strings.Cut(strings.TrimPrefix(stat, "cluster."), ".")
		labels = append(labels, fmt.Sprintf("envoy_cluster_name=%q", name))
		rest = "cluster." + tail
	case strings.HasPrefix(stat, "http."):
		prefix, tail, _ := strings.Cut(strings.TrimPrefix(stat, "http."), ".")
		labels = append(labels, fmt.Sprintf("envoy_http_conn_manager_prefix=%q", prefix))
		rest = "http." + tail
	}
	if m := promRespCode.FindStringSubmatch(rest); m != nil {
		rest = m[1]
		labels = append(labels, fmt.Sprintf("envoy_response_code=%q", m[2]))
	} else if m := promRespClass.FindStringSubmatch(rest); m != nil {
		rest = m[1] + "_xx"
		labels = append(labels, fmt.Sprintf("envoy_response_code_class=%q", m[2]))
	}
	sort.Strings(labels)
	name := "envoy_" + strings.NewReplacer(".", "_", "-", "_").Replace(rest)
	return promSample{name: name, labels: strings.Join(labels, ","), value: v}
}
