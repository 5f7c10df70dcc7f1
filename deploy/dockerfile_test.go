package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerStage is one FROM section of a Dockerfile.
type dockerStage struct {
	Name string
	From string
	// Instructions are (upper-case command, raw arguments) with continuation
	// lines joined.
	Instructions [][2]string
}

// dockerfile is the parsed Dockerfile: global ARG defaults and the stages in order.
type dockerfile struct {
	Args   map[string]string
	Stages []dockerStage
}

const (
	distrolessBase = "gcr.io/distroless/static-debian12:nonroot"
	nonrootUser    = "65532:65532"
	builderStage   = "build"
)

// runtimeStages maps each runtime target to the binary it must run.
var runtimeStages = map[string]string{"gateway": "gateway", "mock-llm": "mock-llm"}

func parseDockerfile(data []byte) (dockerfile, error) {
	df := dockerfile{Args: map[string]string{}}
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		cmd, args, _ := strings.Cut(l, " ")
		cmd, args = strings.ToUpper(cmd), strings.TrimSpace(args)
		switch {
		case cmd == "FROM":
			st, err := parseFrom(args)
			if err != nil {
				return df, err
			}
			df.Stages = append(df.Stages, st)
		case len(df.Stages) == 0 && cmd == "ARG":
			k, v, _ := strings.Cut(args, "=")
			df.Args[k] = v
		case len(df.Stages) == 0:
			return df, fmt.Errorf("Dockerfile: %s before the first FROM", cmd)
		default:
			st := &df.Stages[len(df.Stages)-1]
			st.Instructions = append(st.Instructions, [2]string{cmd, args})
		}
	}
	return df, nil
}

func parseFrom(args string) (dockerStage, error) {
	var words []string
	for _, w := range strings.Fields(args) {
		if !strings.HasPrefix(w, "--") { // --platform=...
			words = append(words, w)
		}
	}
	switch {
	case len(words) == 1:
		return dockerStage{From: words[0]}, nil
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		return dockerStage{From: words[0], Name: words[2]}, nil
	}
	return dockerStage{}, fmt.Errorf("Dockerfile: cannot read FROM %q", args)
}

func (df dockerfile) stage(name string) (dockerStage, bool) {
	for _, s := range df.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return dockerStage{}, false
}

func (s dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.Instructions {
		if in[0] == cmd {
			out = append(out, in[1])
		}
	}
	return out
}

// execForm decodes a JSON-array ENTRYPOINT or CMD; shell form would need a
// shell, which distroless does not have.
func execForm(args string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		return nil, fmt.Errorf("%q is not exec (JSON array) form: %w", args, err)
	}
	return v, nil
}

// checkBuilder: static, trimmed binaries from a Go matching go.mod, with caches.
func checkBuilder(df dockerfile, goMinor string) []error {
	b, ok := df.stage(builderStage)
	if !ok {
		return []error{fmt.Errorf("Dockerfile: no %q stage", builderStage)}
	}
	var errs []error
	from := strings.ReplaceAll(b.From, "${GO_VERSION}", df.Args["GO_VERSION"])
	if from != "golang:"+goMinor {
		errs = append(errs, fmt.Errorf("Dockerfile: builder is %q, want golang:%s (go.mod)", from, goMinor))
	}
	var build string
	for _, r := range b.all("RUN") {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-tags vtprotobuf", `-ldflags "-s -w"`, "-o /out/",
		"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
		if !strings.Contains(build, want) {
			errs = append(errs, fmt.Errorf("Dockerfile: the go build step lacks %s", want))
		}
	}
	for _, bin := range runtimeStages {
		pkg := "./cmd/" + bin
		if !slices.Contains(strings.Fields(build), pkg) {
			errs = append(errs, fmt.Errorf("Dockerfile: go build does not build %s", pkg))
		}
		if _, err := os.Stat(repoPath("cmd", bin)); err != nil {
			errs = append(errs, fmt.Errorf("Dockerfile builds %s: %w", pkg, err))
		}
	}
	return errs
}

// checkRuntime: each target is distroless, non-root, and runs its own binary.
func checkRuntime(df dockerfile, name, bin string) []error {
	s, ok := df.stage(name)
	if !ok {
		return []error{fmt.Errorf("Dockerfile: no %q target", name)}
	}
	var errs []error
	if s.From != distrolessBase {
		errs = append(errs, fmt.Errorf("Dockerfile %s: base %q, want %s", name, s.From, distrolessBase))
	}
	if u := s.all("USER"); len(u) != 1 || u[0] != nonrootUser {
		errs = append(errs, fmt.Errorf("Dockerfile %s: USER %v, want %s", name, u, nonrootUser))
	}
	src := "--from=" + builderStage + " /out/" + bin + " "
	var dest string
	for _, c := range s.all("COPY") {
		if d, ok := strings.CutPrefix(c, src); ok {
			dest = d
		}
	}
	ep, err := execForm(strings.Join(s.all("ENTRYPOINT"), ""))
	switch {
	case dest == "":
		errs = append(errs, fmt.Errorf("Dockerfile %s: binary %s is not copied from the %s stage", name, bin, builderStage))
	case err != nil:
		errs = append(errs, fmt.Errorf("Dockerfile %s: ENTRYPOINT %w", name, err))
	case len(ep) != 1 || ep[0] != dest:
		errs = append(errs, fmt.Errorf("Dockerfile %s: ENTRYPOINT %v does not run %s", name, ep, dest))
	}
	return errs
}

// exposedPorts lists a stage's EXPOSE ports.
func (s dockerStage) exposedPorts() []int {
	var ports []int
	for _, e := range s.all("EXPOSE") {
		for _, f := range strings.Fields(e) {
			p, _ := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
			ports = append(ports, p)
		}
	}
	slices.Sort(ports)
	return ports
}

func goModMinor(t testing.TB) string {
	t.Helper()
	for _, l := range strings.Split(string(readRepoFile(t, "go.mod")), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			parts := strings.Split(strings.TrimSpace(v), ".")
			return parts[0] + "." + parts[1]
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

func loadDockerfile(t testing.TB) dockerfile {
	t.Helper()
	df, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return df
}

func checkDockerfile(df dockerfile, goMinor string) []error {
	errs := checkBuilder(df, goMinor)
	for name, bin := range runtimeStages {
		errs = append(errs, checkRuntime(df, name, bin)...)
	}
	if n := len(df.Stages); n == 0 || df.Stages[n-1].Name != "gateway" {
		errs = append(errs, fmt.Errorf("Dockerfile: the last stage must be the gateway, so `docker build .` builds the sidecar"))
	}
	return errs
}

func TestDockerfile(t *testing.T) {
	df := loadDockerfile(t)
	reportAll(t, checkDockerfile(df, goModMinor(t)))

	t.Run("ports agree with the configs", func(t *testing.T) {
		gw, _ := df.stage("gateway")
		cfg, _, err := parseGatewayConfig(readRepoFile(t, "config", "gateway.yaml"), func(string) string { return "x" })
		if err != nil {
			t.Fatal(err)
		}
		grpc, err1 := parseHostPort(cfg.Server.GRPCListen)
		admin, err2 := parseHostPort(cfg.Server.AdminListen)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		want := []int{admin.Port, grpc.Port}
		slices.Sort(want)
		if got := gw.exposedPorts(); !slices.Equal(got, want) {
			t.Errorf("gateway EXPOSE %v, config/gateway.yaml listens on %v", got, want)
		}
		mock, _ := df.stage("mock-llm")
		cmd, err := execForm(strings.Join(mock.all("CMD"), ""))
		if err != nil {
			t.Fatal(err)
		}
		listen, err := listenFlagPort(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := mock.exposedPorts(); !slices.Equal(got, []int{listen}) {
			t.Errorf("mock-llm EXPOSE %v, CMD listens on %d", got, listen)
		}
	})
	t.Run("gateway default command reads /etc/gateway/gateway.yaml", func(t *testing.T) {
		gw, _ := df.stage("gateway")
		cmd, err := execForm(strings.Join(gw.all("CMD"), ""))
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := flagValue(cmd, "config"); p != "/etc/gateway/gateway.yaml" || cmd[0] != "serve" {
			t.Errorf("gateway CMD %v", cmd)
		}
	})
}

func TestDockerfileCheckCatchesBreakage(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*dockerfile)
		want   string
	}{
		{"root user", func(df *dockerfile) { setInstruction(df, "gateway", "USER", "0") }, "USER"},
		{"shell base", func(df *dockerfile) { setFrom(df, "mock-llm", "alpine:3") }, "base"},
		{"cgo on", func(df *dockerfile) { replaceInBuild(df, "CGO_ENABLED=0", "CGO_ENABLED=1") }, "CGO_ENABLED=0"},
		{"old go", func(df *dockerfile) { df.Args["GO_VERSION"] = "1.22" }, "golang:1.22"},
		{"wrong entrypoint", func(df *dockerfile) {
			setInstruction(df, "gateway", "ENTRYPOINT", `["/usr/local/bin/mock-llm"]`)
		}, "ENTRYPOINT"},
		{"mock last", func(df *dockerfile) {
			n := len(df.Stages)
			df.Stages[n-1], df.Stages[n-2] = df.Stages[n-2], df.Stages[n-1]
		}, "last stage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			df := loadDockerfile(t)
			tc.mutate(&df)
			wantProblem(t, checkDockerfile(df, goModMinor(t)), tc.want)
		})
	}
}

func setInstruction(df *dockerfile, stage, cmd, args string) {
	for i := range df.Stages {
		if df.Stages[i].Name != stage {
			continue
		}
		for j, in := range df.Stages[i].Instructions {
			if in[0] == cmd {
				df.Stages[i].Instructions[j][1] = args
			}
		}
	}
}

func setFrom(df *dockerfile, stage, from string) {
	for i := range df.Stages {
		if df.Stages[i].Name == stage {
			df.Stages[i].From = from
		}
	}
}

func replaceInBuild(df *dockerfile, old, new string) {
	for i := range df.Stages {
		for j, in := range df.Stages[i].Instructions {
			df.Stages[i].Instructions[j][1] = strings.ReplaceAll(in[1], old, new)
		}
	}
}

// flagValue finds -name V, --name V, -name=V or --name=V in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		trimmed := strings.TrimLeft(a, "-")
		if trimmed == a {
			continue
		}
		if k, v, ok := strings.Cut(trimmed, "="); ok && k == name {
			return v, true
		}
		if trimmed == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// listenFlagPort reads the mock provider's -listen flag.
func listenFlagPort(args []string) (int, error) {
	v, ok := flagValue(args, "listen")
	if !ok {
		return 0, fmt.Errorf("no -listen flag in %v", args)
	}
	hp, err := parseHostPort(v)
	return hp.Port, err
}

// cleanPattern normalises a .dockerignore pattern the way Docker does.
func cleanPattern(p string) string {
	p = path.Clean(strings.TrimPrefix(p, "/"))
	return strings.TrimPrefix(p, "./")
}
