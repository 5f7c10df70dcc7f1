// Command http-load sends OpenAI chat completion requests over HTTP, JSON or
// SSE, to the Envoy listener (or the stand-in) or straight to a provider such
// as cmd/mock-llm, and reports throughput, status counts, latency and time to
// first byte. It is a measuring tool for loopback targets: every run is bounded
// by -n and -duration, and a non-loopback URL needs -allow-remote.
//
//	http-load -url http://127.0.0.1:10000/v1/chat/completions -key sk-... \
//	    -n 20000 -duration 60s -concurrency 32 [-rate 2000] [-stream -chunks 100] \
//	    [-cancel-fraction 0.1 -cancel-after 5] [-pid gateway=1234] [-json]
//
// The completion length is set by max_tokens (-chunks): cmd/mock-llm answers
// min(-words, max_tokens) tokens, one SSE content event per token, so run the
// mock with -words at least -chunks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "http-load:", err)
		stop()
		os.Exit(1)
	}
}
