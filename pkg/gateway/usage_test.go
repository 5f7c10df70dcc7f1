package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageEndpointNeedsTokenAndReportsBudget(t *testing.T) {
	t.Setenv("GW_ADMIN_TOKEN", "admin-secret")
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	cfg := strings.Replace(baseConfig, `admin_listen: "127.0.0.1:0"}`, `admin_listen: "127.0.0.1:0", admin_token_env: GW_ADMIN_TOKEN}`, 1)
	cfg = strings.Replace(cfg, `models: ["*"]}]`, `models: ["*"], limits: {tokens_per_day: 1000}}]`, 1)
	os.WriteFile(path, []byte(cfg), 0o644)
	g := startGateway(t, path)
	get := func(token, consumer string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+g.AdminAddr()+"/admin/usage?consumer="+consumer, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get("", "c"); code != 401 || body["error"] == nil {
		t.Fatalf("no token: %d %v", code, body)
	}
	if code, _ := get("wrong", "c"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, _ := get("admin-secret", "nobody"); code != 404 {
		t.Fatalf("unknown consumer: %d", code)
	}
	code, body := get("admin-secret", "c")
	day := body["usage"].(map[string]any)["tokens_per_day"].(map[string]any)
	if code != 200 || body["consumer"] != "c" || day["limit"] != float64(1000) || day["remaining"] != float64(1000) {
		t.Fatalf("usage: %d %v", code, body)
	}
}
