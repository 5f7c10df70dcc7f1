package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llm-gateway/gateway/pkg/loadgen"
)

// options are one run's settings, from the command line.
type options struct {
	url         string
	allowRemote bool
	requests    int
	duration    time.Duration
	concurrency int
	rate        float64
	stream      bool
	chunks      int
	promptBytes int
	model, key  string
	timeout     time.Duration
	// cancelFraction of the streamed requests are abandoned by the client
	// after cancelAfter SSE events, as a user closing the tab would.
	cancelFraction float64
	cancelAfter    int
	pids           pidFlag
	headers        headerFlag
	label          string
	asJSON         bool
}

// headerFlag collects repeated -header "Name: value" values.
type headerFlag [][2]string

func (h *headerFlag) String() string {
	parts := make([]string, 0, len(*h))
	for _, kv := range *h {
		parts = append(parts, kv[0]+": "+kv[1])
	}
	return strings.Join(parts, ", ")
}

func (h *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf(`want "Name: value", got %q`, v)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	return nil
}

// pidFlag collects repeated -pid name=pid values: processes whose CPU time
// over the run goes into the report.
type pidFlag []namedPID

type namedPID struct {
	name string
	pid  int
}

func (p *pidFlag) String() string {
	parts := make([]string, 0, len(*p))
	for _, n := range *p {
		parts = append(parts, n.name+"="+strconv.Itoa(n.pid))
	}
	return strings.Join(parts, ",")
}

func (p *pidFlag) Set(v string) error {
	name, num, ok := strings.Cut(v, "=")
	if !ok {
		name, num = "pid"+v, v
	}
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 || name == "" {
		return fmt.Errorf("want name=pid, got %q", v)
	}
	*p = append(*p, namedPID{name: name, pid: pid})
	return nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("http-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.url, "url", "http://127.0.0.1:10000/v1/chat/completions", "chat completions URL")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a URL whose host is not a loopback address")
	fs.IntVar(&o.requests, "n", 1000, "requests to send at most")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "longest time to start requests (those in flight then finish)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "requests in flight at most")
	fs.Float64Var(&o.rate, "rate", 0, "requests per second, open loop (0: closed loop at -concurrency)")
	fs.BoolVar(&o.stream, "stream", false, "ask for SSE (stream: true, include_usage is added by the gateway)")
	fs.IntVar(&o.chunks, "chunks", 100, "max_tokens: completion tokens, SSE content events with cmd/mock-llm")
	fs.IntVar(&o.promptBytes, "prompt-bytes", 1024, "size of the user prompt in bytes")
	fs.StringVar(&o.model, "model", loadgen.DefaultModel, "model in the chat request")
	fs.StringVar(&o.key, "key", loadgen.DefaultKey, "API key sent as Authorization: Bearer (empty: none)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "abort one request after this")
	fs.Float64Var(&o.cancelFraction, "cancel-fraction", 0, "fraction (0..1) of streamed requests the client abandons mid-stream")
	fs.IntVar(&o.cancelAfter, "cancel-after", 5, "SSE events read before abandoning a request picked by -cancel-fraction")
	fs.Var(&o.headers, "header", `extra request header "Name: value" (repeatable)`)
	fs.Var(&o.pids, "pid", "name=pid of a local process whose CPU time to report (repeatable)")
	fs.StringVar(&o.label, "label", "", "name of the run, copied into the report")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.validate()
}

// validate reports every problem at once.
func (o options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkURL(o.url, o.allowRemote); err != nil {
		errs = append(errs, err)
	}
	// A load run is always bounded: zero is a mistake, not "unbounded".
	if o.requests < 1 || o.requests > loadgen.MaxRequests {
		bad("-n %d out of range [1, %d]", o.requests, loadgen.MaxRequests)
	}
	if o.duration <= 0 || o.duration > loadgen.MaxDuration {
		bad("-duration %s out of range (0, %s]", o.duration, loadgen.MaxDuration)
	}
	if o.concurrency < 1 || o.concurrency > loadgen.MaxConcurrency {
		bad("-concurrency %d out of range [1, %d]", o.concurrency, loadgen.MaxConcurrency)
	}
	if o.rate < 0 || o.rate > loadgen.MaxRate || math.IsNaN(o.rate) {
		bad("-rate %g out of range [0, %g]", o.rate, loadgen.MaxRate)
	}
	if o.chunks < 1 {
		bad("-chunks must be at least 1, got %d", o.chunks)
	}
	if o.promptBytes < 1 {
		bad("-prompt-bytes must be at least 1, got %d", o.promptBytes)
	}
	if o.timeout <= 0 {
		bad("-timeout must be positive")
	}
	if !(o.cancelFraction >= 0 && o.cancelFraction <= 1) {
		bad("-cancel-fraction %g out of range [0, 1]", o.cancelFraction)
	}
	if o.cancelFraction > 0 && !o.stream {
		bad("-cancel-fraction needs -stream")
	}
	if o.cancelAfter < 1 {
		bad("-cancel-after must be at least 1, got %d", o.cancelAfter)
	}
	return errors.Join(errs...)
}

// checkURL accepts http URLs on loopback hosts (any host with allowRemote).
// Host names other than localhost are refused rather than resolved.
func checkURL(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("-url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("-url %q: no host", raw)
	}
	if allowRemote {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if err := loadgen.CheckLoopback(net.JoinHostPort(u.Hostname(), port)); err != nil {
		return fmt.Errorf("-url %q is not on loopback (use -allow-remote to load a remote server): %w", raw, err)
	}
	return nil
}

// cli parses the flags, runs the load and prints the report, also when
// interrupted (then returning the context's error).
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep, err := run(ctx, o)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if perr := enc.Encode(rep); perr != nil {
			return fmt.Errorf("encode report: %w", perr)
		}
	} else if _, perr := io.WriteString(stdout, rep.text()); perr != nil {
		return perr
	}
	return err
}

// sortedKeys returns a map's keys in order, for stable text output.
func sortedKeys[K int | string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
