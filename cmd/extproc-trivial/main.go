// Command extproc-trivial is an ext_proc server that answers CONTINUE to
// everything: the floor an ext_proc sidecar is measured against.
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
	if err := cli.Trivial(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "extproc-trivial:", err)
		os.Exit(1)
	}
}
