package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// ignoreRule is one .dockerignore line compiled to a regexp.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// dockerignore follows Docker's rules: patterns apply in order, the last one
// that matches a path or one of its parent directories decides, and "!"
// re-includes.
type dockerignore []ignoreRule

func parseDockerignore(data []byte) (dockerignore, error) {
	var rules dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		re, err := globRegexp(cleanPattern(strings.TrimPrefix(line, "!")))
		if err != nil {
			return nil, fmt.Errorf(".dockerignore %q: %w", line, err)
		}
		rules = append(rules, ignoreRule{re: re, negate: neg})
	}
	return rules, nil
}

// globRegexp translates Docker's glob: "*" and "?" stay within one path
// element, "**" spans any number of them.
func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excluded reports whether the context path (slash-separated, relative to the
// build context) is left out of the build context.
func (d dockerignore) excluded(p string) bool {
	candidates := []string{p}
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		candidates = append(candidates, dir)
	}
	out := false
	for _, r := range d {
		for _, c := range candidates {
			if r.re.MatchString(c) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

// buildInputs lists every repository file `go build` reads for the images'
// binaries: Go sources and embedded files of module packages, go.mod, go.sum.
func buildInputs(pkgs ...string) ([]string, error) {
	args := append([]string{"list", "-deps", "-json=Dir,GoFiles,EmbedFiles,Module"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %v: %w: %s", pkgs, err, stderr.String())
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return nil, err
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                 string
			GoFiles, EmbedFiles []string
			Module              *struct{ Main bool }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			return nil, err
		}
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	return files, nil
}

// mustStayOut are paths that have no business in an image build context.
var mustStayOut = []string{
	".git/HEAD", ".env", "bin/gateway", ".run/gateway.log", "k8s/deployment.yaml",
	"docs/operations.md", "deploy/compose/gateway.yaml", "pkg/auth/auth_test.go",
}

func checkDockerignore(d dockerignore, inputs []string) []error {
	var errs []error
	for _, f := range inputs {
		if d.excluded(f) {
			errs = append(errs, fmt.Errorf(".dockerignore excludes %s, which the build needs", f))
		}
	}
	for _, f := range mustStayOut {
		if !d.excluded(f) {
			errs = append(errs, fmt.Errorf(".dockerignore lets %s into the build context", f))
		}
	}
	return errs
}

func TestDockerignore(t *testing.T) {
	d, err := parseDockerignore(readRepoFile(t, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, bin := range runtimeStages {
		pkgs = append(pkgs, "./cmd/"+bin)
	}
	inputs, err := buildInputs(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 10 {
		t.Fatalf("go list found only %v", inputs)
	}
	reportAll(t, checkDockerignore(d, inputs))

	t.Run("catches an exclusion the build needs", func(t *testing.T) {
		broken := append(slices.Clone(d), mustRule(t, "pkg/config"))
		wantProblem(t, checkDockerignore(broken, inputs), "pkg/config/")
	})
	t.Run("catches a leak", func(t *testing.T) {
		broken := append(slices.Clone(d), mustRule(t, "!k8s"))
		wantProblem(t, checkDockerignore(broken, inputs), "k8s/deployment.yaml")
	})
}

func TestGlobRegexp(t *testing.T) {
	cases := []struct {
		pattern, path string
		match         bool
	}{
		{"*", "cmd", true},
		{"*", "cmd/gateway", false},
		{"**/*_test.go", "pkg/auth/auth_test.go", true},
		{"**/*_test.go", "x_test.go", true},
		{"**/testdata", "pkg/a/testdata", true},
		{"pkg/*.go", "pkg/a/b.go", false},
		{"a?c", "abc", true},
		{"a.c", "abc", false},
	}
	for _, tc := range cases {
		t.Run(tc.pattern+" "+tc.path, func(t *testing.T) {
			re, err := globRegexp(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := re.MatchString(tc.path); got != tc.match {
				t.Errorf("match = %v, want %v", got, tc.match)
			}
		})
	}
}

func mustRule(t *testing.T, line string) ignoreRule {
	t.Helper()
	d, err := parseDockerignore([]byte(line))
	if err != nil || len(d) != 1 {
		t.Fatalf("rule %q: %v", line, err)
	}
	return d[0]
}
