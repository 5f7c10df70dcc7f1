package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"syscall"
	"time"

	"github.com/llm-gateway/gateway/pkg/config"
	"github.com/llm-gateway/gateway/pkg/policy"
)

// Reload re-reads the config file; a valid config is compiled and swapped in
// atomically, an invalid one is rejected with every problem logged while the old
// one stays in force. Requests in flight keep the snapshot they started with.
func (g *Gateway) Reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.snapshot.Load()
	cfg, err := config.Load(g.opts.ConfigPath, g.opts.Env)
	if err == nil {
		err = checkImmutable(old.Config, cfg)
	}
	var snap *policy.Snapshot
	if err == nil {
		snap, err = policy.Compile(cfg, policy.CompileOptions{Version: old.Version + 1, Previous: old, RouterObserver: routerObserver{g.metrics}})
	}
	if err != nil {
		g.recordReload(false)
		g.log.Error("config reload rejected; previous config stays in force", "version", old.Version, "error", err.Error())
		return err
	}
	g.metrics.SetKnownLabels(knownLabels(snap))
	g.snapshot.Store(snap)
	publishBreakers(snap, g.metrics)
	g.recordReload(true)
	g.log.Info("config reloaded", "version", snap.Version)
	return nil
}

var errReloadRejected = errors.New("config reload rejected")

// checkImmutable rejects changes that only take effect on restart, so an
// operator is never misled into thinking they applied.
func checkImmutable(old, new *config.Config) error {
	if old.Server.GRPCListen != new.Server.GRPCListen || old.Server.AdminListen != new.Server.AdminListen {
		return fmt.Errorf("server listen addresses change only on restart")
	}
	if old.Quota.Store != new.Quota.Store {
		return fmt.Errorf("quota.store changes only on restart")
	}
	// The limiter is built once: of the quota section only the default
	// output reservation is read per request.
	oq, nq := old.Quota, new.Quota
	oq.DefaultMaxOutputTokens, nq.DefaultMaxOutputTokens = 0, 0
	on, nn := oq.Leases.On(), nq.Leases.On() // unset means on
	oq.Leases.Enabled, nq.Leases.Enabled = &on, &nn
	if !reflect.DeepEqual(oq, nq) {
		return fmt.Errorf("quota settings other than default_max_output_tokens change only on restart")
	}
	return nil
}

// watchReloads reloads on SIGHUP and when the config file changes.
func (g *Gateway) watchReloads(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = g.Reload()
			}
		}
	}()
	return config.Watch(ctx, g.opts.ConfigPath, 200*time.Millisecond, func() { _ = g.Reload() })
}

// recordReload counts a reload outcome (metrics are wired in telemetry).
func (g *Gateway) recordReload(ok bool) {
	var err error
	if !ok {
		err = errReloadRejected
	}
	g.metrics.ConfigReloaded(err, time.Now())
	if ok {
		g.reloads.ok.Add(1)
	} else {
		g.reloads.failed.Add(1)
	}
}

// ConfigVersion is the version of the config in force (1 at start, +1 per reload).
func (g *Gateway) ConfigVersion() uint64 { return g.snapshot.Load().Version }
