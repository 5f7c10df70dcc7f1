// Command extproc-load plays Envoy's side of ext_proc against an ext_proc
// server and reports latency per phase and the server's CPU per request.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llm-gateway/gateway/pkg/loadgen/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Load(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "extproc-load:", err)
		os.Exit(1)
	}
}
