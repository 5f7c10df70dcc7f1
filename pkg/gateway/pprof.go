package gateway

import (
	"net/http"
	"net/http/pprof"
)

// pprofHandler serves Go's profiler when server.pprof is on in the current
// config, and 404 otherwise, so turning it on or off is a reload.
func (g *Gateway) pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if snap := g.snapshot.Load(); snap == nil || !snap.Config.Server.Pprof {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
