package telemetry

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promRefs are the names one PromQL expression refers to.
type promRefs struct {
	metrics []string // metric names used as selectors
	labels  []string // label names in matchers and grouping clauses
}

// scanPromQL extracts metric and label names from a PromQL expression,
// Grafana variables included ($var, ${var}, $__rate_interval). It is a
// tokenizer, not a parser: syntax is promtool's job (see dashboards_test.go),
// names are this function's.
func scanPromQL(expr string) (promRefs, error) {
	s := &promScanner{src: expr}
	for s.i < len(s.src) {
		if err := s.next(); err != nil {
			return promRefs{}, fmt.Errorf("%w at offset %d in %q", err, s.i, expr)
		}
	}
	return s.refs, nil
}

type promScanner struct {
	src  string
	i    int
	refs promRefs
}

func (s *promScanner) next() error {
	c := s.src[s.i]
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		s.i++
	case c == '"' || c == '\'' || c == '`':
		_, err := s.str()
		return err
	case c == '#':
		for s.i < len(s.src) && s.src[s.i] != '\n' {
			s.i++
		}
	case c == '{':
		return s.matchers()
	case c == '[':
		return s.skipPast(']')
	case c == '$':
		return s.variable()
	case isDigit(c) || (c == '.' && s.i+1 < len(s.src) && isDigit(s.src[s.i+1])):
		s.number()
	case isIdentStart(c):
		return s.identifier()
	default:
		s.i++ // operators, parentheses, commas, '@'
	}
	return nil
}

// identifier classifies a name as keyword, function, aggregation or metric.
func (s *promScanner) identifier() error {
	name := s.ident()
	s.skipSpace()
	followedByParen := s.i < len(s.src) && s.src[s.i] == '('
	switch {
	case isGroupingKeyword(name):
		if followedByParen {
			return s.labelList()
		}
		if name == "by" || name == "without" || name == "on" || name == "ignoring" {
			return fmt.Errorf("%s without a label list", name)
		}
	case isOtherKeyword(name), isAggregation(name), followedByParen:
	default:
		s.refs.metrics = append(s.refs.metrics, name)
	}
	return nil
}

// isGroupingKeyword reports keywords that take a parenthesised label list.
func isGroupingKeyword(name string) bool {
	switch name {
	case "by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

func isOtherKeyword(name string) bool {
	switch name {
	case "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN":
		return true
	}
	return false
}

// isAggregation reports aggregation operators, which may be followed by
// "by (...)" rather than "(" and so are not caught as function calls.
func isAggregation(name string) bool {
	switch name {
	case "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk",
		"bottomk", "quantile", "count_values", "limitk", "limit_ratio":
		return true
	}
	return false
}

// matchers reads {name op "value", ...} after a metric name.
func (s *promScanner) matchers() error {
	s.i++ // {
	for {
		s.skipSpace()
		if s.i >= len(s.src) {
			return fmt.Errorf("unterminated {")
		}
		switch c := s.src[s.i]; {
		case c == '}':
			s.i++
			return nil
		case c == ',':
			s.i++
		case isIdentStart(c):
			if err := s.matcher(s.ident()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected %q in label matchers", c)
		}
	}
}

func (s *promScanner) matcher(label string) error {
	s.skipSpace()
	op := ""
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(s.src[s.i:], o) {
			op = o
			break
		}
	}
	if op == "" {
		return fmt.Errorf("label %q has no match operator", label)
	}
	s.i += len(op)
	s.skipSpace()
	value, err := s.str()
	if err != nil {
		return err
	}
	if label == "__name__" && op == "=" {
		s.refs.metrics = append(s.refs.metrics, value)
		return nil
	}
	s.refs.labels = append(s.refs.labels, label)
	return nil
}

// labelList reads (a, b, c) after by/without/on/ignoring/group_*.
func (s *promScanner) labelList() error {
	s.i++ // (
	for {
		s.skipSpace()
		if s.i >= len(s.src) {
			return fmt.Errorf("unterminated label list")
		}
		switch c := s.src[s.i]; {
		case c == ')':
			s.i++
			return nil
		case c == ',':
			s.i++
		case isIdentStart(c):
			s.refs.labels = append(s.refs.labels, s.ident())
		case c == '$':
			if err := s.variable(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected %q in label list", c)
		}
	}
}

// variable skips a Grafana variable: $name, ${name} or ${name:format}.
func (s *promScanner) variable() error {
	s.i++ // $
	if s.i < len(s.src) && s.src[s.i] == '{' {
		return s.skipPast('}')
	}
	if s.i >= len(s.src) || !isIdentStart(s.src[s.i]) {
		return fmt.Errorf("bare $")
	}
	s.ident()
	return nil
}

// str reads a quoted string and returns its raw contents.
func (s *promScanner) str() (string, error) {
	if s.i >= len(s.src) {
		return "", fmt.Errorf("expected a string")
	}
	q := s.src[s.i]
	if q != '"' && q != '\'' && q != '`' {
		return "", fmt.Errorf("expected a string, got %q", q)
	}
	start := s.i + 1
	for j := start; j < len(s.src); j++ {
		switch s.src[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			s.i = j + 1
			return s.src[start:j], nil
		}
	}
	return "", fmt.Errorf("unterminated string")
}

// number skips a number or duration literal (0.95, 1e-9, 5m, 0x1f).
func (s *promScanner) number() {
	for s.i < len(s.src) {
		c := s.src[s.i]
		exponentSign := (c == '+' || c == '-') && (s.src[s.i-1] == 'e' || s.src[s.i-1] == 'E')
		if !isIdentChar(c) && c != '.' && !exponentSign {
			return
		}
		s.i++
	}
}

func (s *promScanner) skipPast(end byte) error {
	j := strings.IndexByte(s.src[s.i:], end)
	if j < 0 {
		return fmt.Errorf("missing %q", end)
	}
	s.i += j + 1
	return nil
}

func (s *promScanner) ident() string {
	start := s.i
	for s.i < len(s.src) && isIdentChar(s.src[s.i]) {
		s.i++
	}
	return s.src[start:s.i]
}

func (s *promScanner) skipSpace() {
	for s.i < len(s.src) && strings.IndexByte(" \t\r\n", s.src[s.i]) >= 0 {
		s.i++
	}
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

func TestScanPromQL(t *testing.T) {
	tests := []struct {
		expr            string
		metrics, labels []string
		wantErr         bool
	}{
		{expr: `up`, metrics: []string{"up"}},
		{expr: `sum by (consumer) (rate(gateway_requests_total{consumer=~"$consumer",status_class="5xx"}[$__rate_interval]))`,
			metrics: []string{"gateway_requests_total"}, labels: []string{"consumer", "consumer", "status_class"}},
		{expr: `histogram_quantile(0.95, sum(rate(a_bucket[5m])) by (le, phase))`,
			metrics: []string{"a_bucket"}, labels: []string{"le", "phase"}},
		{expr: `a / on (x) group_left (y) b * 1e-9 + 0x1F - .5`, metrics: []string{"a", "b"}, labels: []string{"x", "y"}},
		{expr: `a unless b or c and d offset 5m`, metrics: []string{"a", "b", "c", "d"}},
		{expr: `sum without (instance) (x{job="gateway"}) > bool 0`, metrics: []string{"x"}, labels: []string{"instance", "job"}},
		{expr: `topk(5, max_over_time(m{a!~"x\"}y"}[1h:5m]))`, metrics: []string{"m"}, labels: []string{"a"}},
		{expr: `{__name__="named"}`, metrics: []string{"named"}},
		{expr: `time() - max(ts{a='q'}) # comment with fake_metric`, metrics: []string{"ts"}, labels: []string{"a"}},
		{expr: "count(x{a=`raw`}) by (${group:csv})", metrics: []string{"x"}, labels: []string{"a"}},
		{expr: `rate(x[5m]`, metrics: []string{"x"}},                                // syntax is promtool's job
		{expr: `gateway_requets_total`, metrics: []string{"gateway_requets_total"}}, // typos surface as names
		{expr: `x{a="unterminated}`, wantErr: true},
		{expr: `x{a}`, wantErr: true},
		{expr: `x[5m`, wantErr: true},
		{expr: `sum by x`, wantErr: true},
		{expr: `x{a="1"`, wantErr: true},
		{expr: `$`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := scanPromQL(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !slices.Equal(got.metrics, tt.metrics) || !slices.Equal(got.labels, tt.labels) {
				t.Errorf("got metrics %v labels %v, want %v %v", got.metrics, got.labels, tt.metrics, tt.labels)
			}
		})
	}
}

// FuzzScanPromQL checks the scanner terminates without panicking and only
// reports syntactically valid names.
func FuzzScanPromQL(f *testing.F) {
	for _, seed := range []string{
		`sum by (le) (rate(x_bucket{a=~"$v"}[$__rate_interval]))`, `a/on(b)group_left c`, `{__name__="x"}`,
		`1e-9+.5`, "x{a=`b`}", `${a:csv}`, `"\`, `#`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		refs, err := scanPromQL(expr)
		if err != nil {
			return
		}
		for _, l := range refs.labels {
			if l == "" || !isIdentStart(l[0]) {
				t.Fatalf("invalid label %q from %q", l, expr)
			}
		}
		for _, m := range refs.metrics {
			if m == "" {
				t.Fatalf("empty metric name from %q", expr)
			}
		}
	})
}
