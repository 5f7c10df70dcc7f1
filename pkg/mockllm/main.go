package mockllm

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// shutdownGrace bounds how long in-flight responses may run on after the
// context of Serve is done.
const shutdownGrace = 5 * time.Second

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("mock-llm: %w", err)
	case <-ctx.Done():
	}
	// The parent context is done; shutting down needs a fresh one.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("mock-llm shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mock-llm: %w", err)
	}
	return nil
}

// Main runs the mock-llm binary: flags in args, a "listening on" line on stdout
// once the port is bound, logs on stderr, until ctx is done.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, listen, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("mock-llm: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fmt.Fprintf(stdout, "mock-llm listening on http://%s\n", ln.Addr())
	log.Info("mock-llm started", "addr", ln.Addr().String(), "models", strings.Join(opts.Models, ","))
	err = New(opts).Serve(ctx, ln)
	log.Info("mock-llm stopped")
	return err
}

func parseFlags(args []string, stderr io.Writer) (Options, string, error) {
	fs := flag.NewFlagSet("mock-llm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts   Options
		models string
		seed   uint64
	)
	c := &opts.Config
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on")
	fs.IntVar(&c.Words, "words", DefaultWords, "reply length in words (one word = one token)")
	fs.StringVar(&c.ReplyText, "reply-text", "", "exact reply text, instead of generated words")
	fs.DurationVar(&c.TimeToFirstToken, "ttft", 0, "time to first token")
	fs.DurationVar(&c.TokenDelay, "token-delay", 0, "delay between tokens")
	fs.IntVar(&c.TokensPerChunk, "tokens-per-chunk", 1, "tokens per SSE event")
	fs.IntVar(&c.ErrorStatus, "error-status", 0, "HTTP status of injected errors (e.g. 429, 500, 503)")
	fs.Float64Var(&c.ErrorRate, "error-rate", 0, "fraction of chat requests failing with -error-status (0..1)")
	fs.BoolVar(&c.OmitUsage, "omit-usage", false, "never report usage")
	fs.StringVar(&models, "models", strings.Join(defaultModels, ","), "comma-separated models listed by /v1/models")
	fs.IntVar(&opts.MaxRecorded, "max-recorded", 1000, "requests kept for inspection")
	fs.Uint64Var(&seed, "seed", 1, "seed of the error injection draws")
	if err := fs.Parse(args); err != nil {
		return opts, "", fmt.Errorf("mock-llm: %w", err)
	}
	if fs.NArg() > 0 {
		return opts, "", fmt.Errorf("mock-llm: unexpected arguments %q", fs.Args())
	}
	if err := c.Validate(); err != nil {
		return opts, "", fmt.Errorf("mock-llm: %w", err)
	}
	for _, m := range strings.Split(models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			opts.Models = append(opts.Models, m)
		}
	}
	opts.Float64 = rand.New(rand.NewPCG(seed, seed)).Float64
	return opts, *listen, nil
}
