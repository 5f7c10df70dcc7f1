package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/llm-gateway/gateway/pkg/openai"
	"github.com/llm-gateway/gateway/pkg/quota"
	"github.com/llm-gateway/gateway/pkg/telemetry"
)

// handleUsage serves GET /admin/usage?consumer=ID: the consumer's current-period
// usage and remaining budget. It needs the admin token (server.admin_token_env or
// _file); without one configured the endpoint is off.
func (g *Gateway) handleUsage(w http.ResponseWriter, r *http.Request) {
	snap := g.snapshot.Load()
	token := snap.Config.AdminToken()
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		writeError(w, openai.InvalidAPIKey("A valid admin token is required."))
		return
	}
	c := snap.Consumers[r.URL.Query().Get("consumer")]
	if c == nil {
		writeError(w, &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Param: "consumer", Message: "Unknown consumer."})
		return
	}
	report, err := g.limiter.Usage(r.Context(), c.Subject(""))
	if err != nil {
		writeError(w, openai.ServiceUnavailable("quota_unavailable", "The quota store is unavailable."))
		return
	}
	g.publishBudget(c.ID, report.Usage)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(report)
}

func writeError(w http.ResponseWriter, e *openai.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(e.Body())
}

func (g *Gateway) publishBudget(consumer string, u quota.ScopeUsage) {
	g.metrics.SetBudget(consumer, telemetry.PeriodDay, u.TokensPerDay.Used, u.TokensPerDay.Remaining)
	g.metrics.SetBudget(consumer, telemetry.PeriodMonth, u.TokensPerMonth.Used, u.TokensPerMonth.Remaining)
}

// budgetLoop refreshes the budget gauges of every consumer periodically, so
// dashboards show budget burn without a store call on the request path.
func (g *Gateway) budgetLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		g.refreshBudgets(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *Gateway) refreshBudgets(ctx context.Context) {
	for id, c := range g.snapshot.Load().Consumers {
		if c.Limits.TokensPerDay == 0 && c.Limits.TokensPerMonth == 0 {
			continue
		}
		report, err := g.limiter.Usage(ctx, c.Subject(""))
		if err != nil {
			return // the store is away; try again next tick
		}
		g.publishBudget(id, report.Usage)
	}
}
