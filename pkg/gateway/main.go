// Package gateway wires the sidecar together: configuration, policy snapshot,
// the ext_proc gRPC service, the admin HTTP server and their lifecycles. The
// binary's main only calls Main, which tests call too.
package gateway

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/llm-gateway/gateway/pkg/auth"
	"github.com/llm-gateway/gateway/pkg/config"
)

const usage = `usage: gateway <command> [flags]

commands:
  serve     run the ext_proc sidecar (default)
  validate  check a config file offline and print every problem
  keygen    print a new random API key and the SHA-256 hash for the config
`

// Main runs the gateway command line. It returns when ctx is cancelled (serve) or
// the command completes.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, stderr)
	case "validate":
		return validateCommand(args, stdout, stderr)
	case "keygen":
		return keygenCommand(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func validateCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config/gateway.yaml", "path to the gateway config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := config.Load(*path, config.OSEnv()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return nil
}

func keygenCommand(stdout io.Writer) error {
	key, hash, err := auth.NewKey(nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key:        %s\nkey_sha256: %s\n", key, hash)
	fmt.Fprintln(stdout, "# give the key to the consumer; put only key_sha256 in the config.")
	return nil
}
