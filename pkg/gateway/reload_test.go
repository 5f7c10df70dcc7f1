package gateway

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llm-gateway/gateway/pkg/config"
)

const baseConfig = `
server: {grpc_listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}
providers: [{name: p, cluster: mock}]
models: [{name: m1, deployments: [{provider: p}]}]
consumers: [{id: c, key_sha256: ["a8c381fdb2dcef79fe310e869114c16847367eb007a3e24efa1166e6be0732ae"], models: ["*"]}]
`

func startGateway(t *testing.T, path string) *Gateway {
	t.Helper()
	g, err := Start(t.Context(), Options{ConfigPath: path, Env: config.OSEnv(), LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Shutdown(ctx)
	})
	return g
}

// waitVersion polls (bounded) until the gateway reports version v.
func waitVersion(t *testing.T, g *Gateway, v uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.ConfigVersion() != v {
		if time.Now().After(deadline) {
			t.Fatalf("config version %d, want %d", g.ConfigVersion(), v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReloadOnFileChangeAndRejectInvalid(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(baseConfig), 0o644)
	g := startGateway(t, path)

	// A valid change is picked up by the file watch.
	newCfg := strings.Replace(baseConfig, "models: [{name: m1,", "models: [{name: m2, deployments: [{provider: p}]}, {name: m1,", 1)
	os.WriteFile(path, []byte(newCfg), 0o644)
	waitVersion(t, g, 2)
	if g.snapshot.Load().Models["m2"] == nil {
		t.Fatal("new model not in force")
	}

	// An invalid one is rejected; the old config stays.
	os.WriteFile(path, []byte("providers: [{name: \"\"}]\n"), 0o644)
	if err := g.Reload(); err == nil {
		t.Fatal("invalid config accepted")
	}
	if g.ConfigVersion() != 2 || g.snapshot.Load().Models["m2"] == nil {
		t.Fatal("invalid config replaced the running one")
	}
	if g.reloads.failed.Load() == 0 {
		t.Fatal("failed reload not counted")
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(baseConfig), 0o644)
	g := startGateway(t, path)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, g, 2)
}

// TestReloadOnConfigMapSymlinkSwap mimics how the kubelet updates a mounted
// ConfigMap: files live in a timestamped dir, "..data" points at it, and the
// visible file is a symlink through "..data". An update swaps "..data".
func TestReloadOnConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "..2026_01_01_v1")
	os.Mkdir(v1, 0o755)
	os.WriteFile(filepath.Join(v1, "gateway.yaml"), []byte(baseConfig), 0o644)
	os.Symlink("..2026_01_01_v1", filepath.Join(dir, "..data"))
	os.Symlink("..data/gateway.yaml", filepath.Join(dir, "gateway.yaml"))
	g := startGateway(t, filepath.Join(dir, "gateway.yaml"))

	v2 := filepath.Join(dir, "..2026_01_02_v2")
	os.Mkdir(v2, 0o755)
	newCfg := strings.Replace(baseConfig, "name: m1", "name: m3", 1)
	os.WriteFile(filepath.Join(v2, "gateway.yaml"), []byte(newCfg), 0o644)
	os.Symlink("..2026_01_02_v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, g, 2)
	if g.snapshot.Load().Models["m3"] == nil {
		t.Fatal("swapped config not in force")
	}
}

func TestListenChangeNeedsRestart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(baseConfig), 0o644)
	g := startGateway(t, path)
	os.WriteFile(path, []byte(strings.Replace(baseConfig, `grpc_listen: "127.0.0.1:0"`, `grpc_listen: "127.0.0.1:1"`, 1)), 0o644)
	if err := g.Reload(); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("listen change accepted: %v", err)
	}
}

// Quota settings the limiter read at start cannot change on reload: a reload
// that changes one is rejected instead of silently not applying.
func TestReloadRejectsRestartOnlyQuotaSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(path, []byte(baseConfig), 0o644)
	g := startGateway(t, path)
	for _, change := range []string{
		"quota: {timeout: 100ms}",
		"quota: {failure_policy: open}",
		"quota: {leases: {enabled: false}}",
	} {
		os.WriteFile(path, []byte(baseConfig+change+"\n"), 0o644)
		err := g.Reload()
		if err == nil || !strings.Contains(err.Error(), "only on restart") {
			t.Errorf("%s: reload error %v, want a restart-only rejection", change, err)
		}
	}
	// Spelling out a default is no change.
	os.WriteFile(path, []byte(baseConfig+"quota: {leases: {enabled: true}}\n"), 0o644)
	if err := g.Reload(); err != nil {
		t.Fatalf("leases.enabled: true (the default): %v", err)
	}
	// The default output reservation is read per request: it reloads.
	os.WriteFile(path, []byte(baseConfig+"quota: {default_max_output_tokens: 512}\n"), 0o644)
	if err := g.Reload(); err != nil {
		t.Fatalf("default_max_output_tokens: %v", err)
	}
	if got := g.snapshot.Load().Config.Quota.DefaultMaxOutputTokens; got != 512 {
		t.Fatalf("default_max_output_tokens = %d after reload, want 512", got)
	}
}
