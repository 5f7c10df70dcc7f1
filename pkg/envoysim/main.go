package envoysim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// clusterAddrFlag collects repeated --cluster-addr name=host:port values.
type clusterAddrFlag map[string]string

func (c clusterAddrFlag) String() string {
	parts := make([]string, 0, len(c))
	for k, v := range c {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (c clusterAddrFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("want name=host:port, got %q", v)
	}
	c[name] = addr
	return nil
}

// mainOptions are the command-line settings of the stand-in binary.
type mainOptions struct {
	configPath     string
	listen, admin  string
	noAdmin        bool
	messageTimeout time.Duration
	logLevel       string
	clusterAddrs   clusterAddrFlag
}

func parseMainFlags(args []string, stderr io.Writer) (*mainOptions, error) {
	o := &mainOptions{clusterAddrs: clusterAddrFlag{}}
	fs := flag.NewFlagSet("envoy-standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configPath, "c", "", "Envoy bootstrap YAML (like envoy -c)")
	fs.StringVar(&o.configPath, "config-path", "", "same as -c")
	fs.StringVar(&o.listen, "listen", "", "override the listener address")
	fs.StringVar(&o.admin, "admin", "", "override the admin address (default: the config's)")
	fs.BoolVar(&o.noAdmin, "no-admin", false, "do not serve the admin endpoint")
	fs.DurationVar(&o.messageTimeout, "message-timeout", 0, "override ext_proc message_timeout")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error (like envoy -l)")
	fs.StringVar(&o.logLevel, "l", "info", "same as --log-level")
	fs.Var(o.clusterAddrs, "cluster-addr", "remap a cluster: name=host:port[,host:port] (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.configPath == "" {
		return nil, errors.New("-c <envoy.yaml> is required")
	}
	return o, nil
}

// Main runs the stand-in like `envoy -c envoy.yaml` until ctx ends; access
// logs go to stdout and diagnostics to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseMainFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := LoadConfig(o.configPath)
	if err != nil {
		return err
	}
	admin := o.admin
	if admin == "" && !o.noAdmin {
		admin = cfg.AdminAddress
	}
	p, err := New(Options{
		Config: cfg, ListenAddr: o.listen, AdminAddr: admin, ClusterAddrs: o.clusterAddrs,
		MessageTimeout: o.messageTimeout, Logger: logger, AccessLog: stdout,
	})
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return errors.Join(err, p.Close())
	}
	select {
	case <-ctx.Done():
	case err = <-p.serveErr:
	}
	logger.Info("envoysim: shutting down")
	return errors.Join(err, p.Close())
}
