// Package cli holds the command lines of extproc-load and extproc-trivial, so
// tests run them exactly as the binaries do; the mains only handle signals.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/llm-gateway/gateway/pkg/protocodec"
	"google.golang.org/grpc"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/llm-gateway/gateway/pkg/loadgen"
	"github.com/llm-gateway/gateway/pkg/loadgen/trivial"
)

// Load runs extproc-load: it parses flags, runs the load and prints the report
// (also when interrupted, then returning the context's error).
func Load(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("extproc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.Options
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:50051", "ext_proc server address, host:port or unix:/path")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.IntVar(&o.Requests, "n", 1000, "requests to send at most")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "longest time to start requests")
	fs.Float64Var(&o.Rate, "rate", 0, "requests per second, open loop (0: closed loop at -concurrency)")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "requests in flight at most")
	fs.IntVar(&o.Connections, "connections", 2, "HTTP/2 connections to spread streams over")
	fs.BoolVar(&o.Stream, "stream", false, "SSE response with -chunks chunk events")
	fs.IntVar(&o.Chunks, "chunks", 100, "completion tokens: SSE chunks when streaming")
	fs.IntVar(&o.PromptBytes, "prompt-bytes", 1024, "size of the user prompt in bytes")
	fs.IntVar(&o.Pipeline, "pipeline", 16, "streamed chunks in flight per stream at most")
	fs.StringVar(&o.Key, "key", loadgen.DefaultKey, "API key sent as Authorization: Bearer")
	fs.StringVar(&o.Model, "model", loadgen.DefaultModel, "model in the chat request")
	fs.StringVar(&o.UpstreamModel, "upstream-model", "", "model in the provider's answers (default: -model + \"-2024-07-18\", as OpenAI answers)")
	fs.StringVar(&o.Path, "path", loadgen.DefaultPath, "request :path")
	fs.DurationVar(&o.MessageTimeout, "message-timeout", 200*time.Millisecond, "count answers slower than this (Envoy's message_timeout)")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 30*time.Second, "abort a request's stream after this")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "pid of a local server whose CPU time to measure")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Zero would mean "default" to loadgen; on the command line it is a mistake.
	if o.Requests < 1 || o.Duration <= 0 {
		return errors.New("-n and -duration must both be positive: a load run is always bounded")
	}
	rep, err := loadgen.Run(ctx, o)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if perr := printReport(stdout, rep, *asJSON); perr != nil {
		return perr
	}
	return err
}

func printReport(w io.Writer, rep loadgen.Report, asJSON bool) error {
	if !asJSON {
		return rep.WriteText(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// Trivial runs extproc-trivial until ctx is cancelled. It prints the address
// it listens on, which matters with port 0.
func Trivial(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("extproc-trivial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:50061", "address to serve ext_proc on")
	fastCodec := fs.Bool("fast-codec", false, "use the sidecar's gRPC codec (pkg/protocodec) instead of gRPC's default")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (to compare with the sidecar's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stderr, "extproc-trivial listening on %s\n", ln.Addr())
	var opts []grpc.ServerOption
	if *fastCodec {
		opts = append(opts, grpc.ForceServerCodecV2(protocodec.New()))
	}
	return trivial.Serve(ctx, ln, opts...)
}
