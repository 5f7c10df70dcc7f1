package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(vars map[string]string) Env {
	return Env{Getenv: func(k string) string { return vars[k] }, ReadFile: os.ReadFile}
}

func TestEveryProblemReportedWithItsPath(t *testing.T) {
	yaml := `
server: {grpc_listen: "nonsense", routing_header: "X-Bad"}
providers:
  - {name: a, kind: grpc, timeout: 1s, max_retries: 99, headers: {Authorization: x}}
  - {name: a}
models:
  - name: m
    deployments: [{provider: ghost, weight: -1}]
consumers:
  - id: c
    key_sha256: ["abc"]
    models: [nope]
    limits: {requests_per_minute: -5}
quota: {store: etcd, failure_policy: maybe, timeout: 5s, leases: {share: -1, max_age: 2m, max_requests: 1}}
guardrails: {output_action: shout}
chaos: [{abort_percent: 150}]
telemetry: {log_level: loud}
`
	_, err := Parse([]byte(yaml), env(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want ValidationError, got %v", err)
	}
	for _, want := range []string{
		"server.grpc_listen", "server.routing_header", "providers[0].kind", "providers[0].max_retries",
		"providers[0].headers.Authorization", "providers[1].name: duplicate", "models[0].deployments[0].provider",
		"models[0].deployments[0].weight", "consumers[0].key_sha256[0]", "consumers[0].models[0]",
		"consumers[0].limits.requests_per_minute", "quota.store", "quota.failure_policy", "quota.timeout",
		"quota.leases.share", "quota.leases.max_age", "quota.leases.max_requests", "guardrails.output_action", "chaos[0]", "telemetry.log_level",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
}

func TestUnknownFieldsAreRejected(t *testing.T) {
	_, err := Parse([]byte("providers: [{name: a, api_key: sk-inline}]\n"), env(nil))
	if err == nil || !strings.Contains(err.Error(), "api_key") {
		t.Fatalf("inline secret field accepted: %v", err)
	}
}

const minimal = `
providers: [{name: p, api_key_env: P_KEY}]
models: [{name: m, deployments: [{provider: p}]}]
consumers: [{id: c, key_sha256: ["a8c381fdb2dcef79fe310e869114c16847367eb007a3e24efa1166e6be0732ae"], models: ["*"]}]
`

func TestSecretsFromEnvAndFiles(t *testing.T) {
	cfg, err := Parse([]byte(minimal), env(map[string]string{"P_KEY": " sk-env \n"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProviderKey("p") != "sk-env" {
		t.Fatalf("key %q", cfg.ProviderKey("p"))
	}
	if _, err := Parse([]byte(minimal), env(nil)); err == nil || !strings.Contains(err.Error(), "P_KEY") {
		t.Fatalf("missing secret must fail closed: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	os.WriteFile(file, []byte("sk-file\n"), 0o600)
	cfg, err = Parse([]byte(strings.Replace(minimal, "api_key_env: P_KEY", "api_key_file: "+file, 1)), env(nil))
	if err != nil || cfg.ProviderKey("p") != "sk-file" {
		t.Fatalf("file secret: %v %q", err, cfg.ProviderKey("p"))
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), env(map[string]string{"P_KEY": "k"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.RoutingHeader != "x-gateway-cluster" || cfg.Providers[0].Cluster != "p" ||
		cfg.Models[0].Deployments[0].Model != "m" || cfg.Quota.Store != "memory" || cfg.Quota.FailurePolicy != "closed" {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestShippedConfigsAreValid(t *testing.T) {
	vars := map[string]string{"OPENAI_API_KEY": "x", "REDIS_PASSWORD": "x", "GATEWAY_ADMIN_TOKEN": "x"}
	for _, f := range []string{"gateway.yaml", "gateway.local.yaml"} {
		if _, err := Load(filepath.Join("..", "..", "config", f), env(vars)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
