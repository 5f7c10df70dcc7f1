package envoysim

import (
	"io"
	"net/http"
)

// adminHandler serves the subset of Envoy's admin API that local tooling
// uses: readiness and stats.
func (p *Proxy) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		if p.ready.Load() {
			_, _ = io.WriteString(w, "LIVE\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "PRE_INITIALIZING\n")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = p.stats.writeText(w)
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=UTF-8")
		_ = p.stats.writePrometheus(w)
	})
	return mux
}
