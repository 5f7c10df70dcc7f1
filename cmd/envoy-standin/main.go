// Command envoy-standin emulates Envoy's side of the ext_proc protocol for
// machines without Envoy: `envoy-standin -c envoy/envoy.local.yaml`. It is a
// development and test tool; production runs real Envoy. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/llm-gateway/gateway/pkg/envoysim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := envoysim.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "envoy-standin:", err)
		stop()
		os.Exit(1)
	}
}
