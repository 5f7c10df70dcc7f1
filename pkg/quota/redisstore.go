package quota

import (
	"context"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/common.lua
	luaCommon string
	//go:embed lua/scope.lua
	luaScope string
	//go:embed lua/request.lua
	luaRequest string
	//go:embed lua/reserve.lua
	luaReserve string
	//go:embed lua/reconcile.lua
	luaReconcile string
	//go:embed lua/usage.lua
	luaUsage string
)

// RedisStoreOptions configure a RedisStore.
type RedisStoreOptions struct {
	// KeyPrefix starts every key (default "quota:"). It must not contain
	// braces, which would change the Cluster hash tag.
	KeyPrefix string
}

// RedisStore keeps counters in Redis (standalone, Sentinel or Cluster through
// one UniversalClient). Every operation is one Lua script run with EVALSHA
// (falling back to EVAL once per server), so each decision costs one round
// trip and is atomic. All keys of a consumer share the {consumer} hash tag, so
// a script's keys always live in one Cluster slot. The Limiter bounds every
// call with a context deadline: give the client ContextTimeoutEnabled so it
// honours that deadline, and MaxRetries -1. Script calls are never re-sent by
// go-redis (see onceCmd).
type RedisStore struct {
	client  redis.UniversalClient
	prefix  string
	request script
	reserve script
	settle  script
	usage   script
}

// script is a Lua script and its source (for EVAL when the server lacks it).
type script struct {
	src string
	lua *redis.Script
}

func newScript(src string) script { return script{src: src, lua: redis.NewScript(src)} }

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store over client. The store does not own the client.
func NewRedisStore(client redis.UniversalClient, opts RedisStoreOptions) (*RedisStore, error) {
	if client == nil {
		return nil, errors.New("quota: redis store needs a client")
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = "quota:"
	}
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		return nil, fmt.Errorf("quota: key prefix %q must not contain braces (they would override the per-consumer hash tag)", opts.KeyPrefix)
	}
	return &RedisStore{
		client:  client,
		prefix:  opts.KeyPrefix,
		request: newScript(luaCommon + luaRequest),
		reserve: newScript(luaCommon + luaScope + luaReserve),
		settle:  newScript(luaCommon + luaReconcile),
		usage:   newScript(luaCommon + luaScope + luaUsage),
	}, nil
}

// run runs a script: EVALSHA, then EVAL once if the server does not know it.
func (r *RedisStore) run(ctx context.Context, s script, keys []string, args ...any) *redis.Cmd {
	cmd := scriptCall(ctx, "evalsha", s.lua.Hash(), keys, args)
	_ = r.client.Process(ctx, cmd)
	if isNoScript(cmd.Err()) {
		cmd = scriptCall(ctx, "eval", s.src, keys, args)
		_ = r.client.Process(ctx, cmd)
	}
	return cmd.Cmd
}

// onceCmd is a script call go-redis must never send again on its own: a
// script whose answer was lost may have run, and running it twice counts a
// request or usage twice. (MaxRetries -1 stops a standalone client's retries;
// a Cluster client retries network errors within MaxRedirects unless the
// command says NoRetry. MOVED and ASK redirects are still followed: the
// script did not run.) The Limiter handles ambiguous failures itself.
type onceCmd struct{ *redis.Cmd }

func (onceCmd) NoRetry() bool { return true }

// scriptCall builds an EVALSHA or EVAL of script over keys and args.
func scriptCall(ctx context.Context, verb, script string, keys []string, args []any) onceCmd {
	cmdArgs := make([]any, 0, 3+len(keys)+len(args))
	cmdArgs = append(cmdArgs, verb, script, len(keys))
	for _, k := range keys {
		cmdArgs = append(cmdArgs, k)
	}
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	cmd.SetFirstKeyPos(3) // Cluster routing: the first key follows the key count
	return onceCmd{cmd}
}

func isNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// CountRequest implements Store.
func (r *RedisStore) CountRequest(ctx context.Context, op RequestOp) (RequestResult, error) {
	k := r.keys(op.Consumer, "")
	p := PeriodsAt(op.Now)
	ttl := ttlsAt(p, op.Now)
	vals, err := r.run(ctx, r.request,
		[]string{k.counter("rq", p.Minute), k.counter("rq", p.Minute-1)},
		elapsedInMinute(op.Now), op.Limit, ttl.minute).Int64Slice()
	if err != nil {
		return RequestResult{}, fmt.Errorf("quota: redis count request: %w", err)
	}
	if len(vals) != 3 {
		return RequestResult{}, fmt.Errorf("quota: redis count request: %d values, want 3", len(vals))
	}
	return RequestResult{Allowed: vals[0] == 1, Window: Window{Prev: vals[1], Cur: vals[2]}}, nil
}

// Reserve implements Store.
func (r *RedisStore) Reserve(ctx context.Context, op ReserveOp) (ReserveResult, error) {
	p := PeriodsAt(op.Now)
	ttl := ttlsAt(p, op.Now)
	nowMs := op.Now.UnixMilli()
	keys := r.scopeKeys(op.Consumer, op.Model, p)
	rec := "l:" + strconv.FormatInt(op.Tokens, 10) + ":" + strconv.FormatInt(p.Minute, 10) + ":" +
		strconv.FormatInt(p.Day, 10) + ":" + strconv.FormatInt(p.Month, 10) + ":" +
		strconv.FormatInt(op.ForgetAt.UnixMilli(), 10) + ":" + strconv.FormatInt(op.slots(), 10)
	args := append(scopeArgs(op.Now, p),
		ttl.minute, ttl.day, ttl.month, max(op.ForgetAt.UnixMilli()-nowMs, 0)+minuteMs,
		op.ID, op.Tokens, op.Deadline.UnixMilli(), rec, op.ForgetAt.UnixMilli()+minuteMs, flag(op.CountRequest),
		op.requests(), op.slots())
	args = appendLimits(args, op.Limits)
	if op.Model != "" {
		args = appendLimits(args, op.ModelLimits)
	}
	vals, err := r.run(ctx, r.reserve, keys, args...).Int64Slice()
	if err != nil {
		return ReserveResult{}, fmt.Errorf("quota: redis reserve: %w", err)
	}
	if want := 1 + 7*len(keys)/scopeKeyCount; len(vals) != want {
		return ReserveResult{}, fmt.Errorf("quota: redis reserve: %d values, want %d", len(vals), want)
	}
	res := ReserveResult{Allowed: vals[0] == 1, Consumer: scopeCounts(vals[1:8])}
	if op.Model != "" {
		res.Model = scopeCounts(vals[8:15])
	}
	return res, nil
}

// Reconcile implements Store.
func (r *RedisStore) Reconcile(ctx context.Context, op ReconcileOp) error {
	keys, args := r.reconcileArgs(op)
	if err := r.run(ctx, r.settle, keys, args...).Err(); err != nil {
		return fmt.Errorf("quota: redis reconcile: %w", rejected(err))
	}
	return nil
}

// ReconcileAll writes many reconciliations in one pipeline: one round trip
// (per Cluster node) for the batch. Each is still its own atomic script, and
// each gets its own result.
func (r *RedisStore) ReconcileAll(ctx context.Context, ops []ReconcileOp) []error {
	cmds := r.settleAll(ctx, "evalsha", r.settle.lua.Hash(), ops)
	if slices.ContainsFunc(cmds, func(c onceCmd) bool { return isNoScript(c.Err()) }) {
		// The server lost its scripts (restart, failover): load the script
		// once (on every Cluster master) and send those calls again.
		if err := r.client.ScriptLoad(ctx, r.settle.src).Err(); err == nil {
			var again []ReconcileOp
			var at []int
			for i, c := range cmds {
				if isNoScript(c.Err()) {
					again, at = append(again, ops[i]), append(at, i)
				}
			}
			for j, c := range r.settleAll(ctx, "evalsha", r.settle.lua.Hash(), again) {
				cmds[at[j]] = c
			}
		}
	}
	errs := make([]error, len(ops))
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			errs[i] = fmt.Errorf("quota: redis reconcile: %w", rejected(err))
		}
	}
	return errs
}

// rejected marks Redis's own error replies to a script ("ERR ...": a script
// or argument error, the same on every attempt) as ErrStoreRejected. Lost
// answers, timeouts and transient replies (LOADING, READONLY, BUSY, ...) stay
// as they are: they are worth retrying.
func rejected(err error) error {
	var reply redis.Error
	if errors.As(err, &reply) && strings.HasPrefix(reply.Error(), "ERR ") {
		return fmt.Errorf("%w: %w", ErrStoreRejected, err)
	}
	return err
}

// settleAll sends reconcile.lua for every op in one pipeline.
func (r *RedisStore) settleAll(ctx context.Context, verb, script string, ops []ReconcileOp) []onceCmd {
	cmds := make([]onceCmd, len(ops))
	// Pipelined's own error repeats a command's; each is read by the caller.
	_, _ = r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, op := range ops {
			keys, args := r.reconcileArgs(op)
			cmds[i] = scriptCall(ctx, verb, script, keys, args)
			_ = p.Process(ctx, cmds[i])
		}
		return nil
	})
	return cmds
}

// reconcileArgs are reconcile.lua's keys and arguments for op.
func (r *RedisStore) reconcileArgs(op ReconcileOp) ([]string, []any) {
	ttl := ttlsAt(op.Periods, op.Now)
	keys := make([]string, 0, 14)
	for _, model := range scopeModels(op.Model) {
		k := r.keys(op.Consumer, model)
		keys = append(keys, k.counter("tk", op.Periods.Minute), k.counter("d", op.Periods.Day),
			k.counter("mo", op.Periods.Month), k.fixed("res"), k.fixed("live"), k.fixed("exp"),
			k.counter("rq", op.Periods.Minute))
	}
	return keys, []any{op.ID, op.Actual, flag(op.Retry), ttl.minute, ttl.day, ttl.month, op.Now.UnixMilli(),
		max(0, op.UnusedRequests), flag(op.Partial), max(1, op.KeepSlots), max(0, op.Remaining),
		max(0, op.Settled), max(0, op.SettledUnused)}
}

// Usage implements Store.
func (r *RedisStore) Usage(ctx context.Context, op UsageOp) (UsageResult, error) {
	p := PeriodsAt(op.Now)
	keys := r.scopeKeys(op.Consumer, op.Model, p)
	vals, err := r.run(ctx, r.usage, keys, scopeArgs(op.Now, p)...).Int64Slice()
	if err != nil {
		return UsageResult{}, fmt.Errorf("quota: redis usage: %w", err)
	}
	if want := 7 * len(keys) / scopeKeyCount; len(vals) != want {
		return UsageResult{}, fmt.Errorf("quota: redis usage: %d values, want %d", len(vals), want)
	}
	res := UsageResult{Consumer: scopeCounts(vals[:7])}
	if op.Model != "" {
		res.Model = scopeCounts(vals[7:14])
	}
	return res, nil
}

// scopeKeyCount is the number of keys per scope in scope.lua's layout.
const scopeKeyCount = 9

// scopeKeys lists the keys of scope.lua's layout for the consumer and, when
// model is set, the model scope.
func (r *RedisStore) scopeKeys(consumer, model string, p Periods) []string {
	keys := make([]string, 0, 2*scopeKeyCount)
	for _, m := range scopeModels(model) {
		k := r.keys(consumer, m)
		keys = append(keys,
			k.counter("rq", p.Minute), k.counter("rq", p.Minute-1),
			k.counter("tk", p.Minute), k.counter("tk", p.Minute-1),
			k.counter("d", p.Day), k.counter("mo", p.Month),
			k.fixed("res"), k.fixed("live"), k.fixed("exp"))
	}
	return keys
}

// flag is a boolean script argument.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

func scopeModels(model string) []string {
	if model == "" {
		return []string{""}
	}
	return []string{"", model}
}

func scopeArgs(now time.Time, p Periods) []any {
	return append(make([]any, 0, 32), now.UnixMilli(), elapsedInMinute(now), p.Minute, p.Day, p.Month)
}

func appendLimits(args []any, l Limits) []any {
	return append(args, l.RequestsPerMinute, l.TokensPerMinute, l.TokensPerDay, l.TokensPerMonth, l.MaxConcurrent)
}

func scopeCounts(v []int64) ScopeCounts {
	return ScopeCounts{
		Requests: Window{Prev: v[0], Cur: v[1]},
		Tokens:   Window{Prev: v[2], Cur: v[3]},
		Day:      v[4], Month: v[5], InFlight: v[6],
	}
}

// scopeKey builds one scope's key names:
//
//	<prefix>{<consumer>}:<name>[:<period>][:m:<model>]
//
// Consumer-scope names end right after their fixed part or period digits, so
// no model name can make a model-scope key equal a consumer-scope key.
type scopeKey struct{ base, suffix string }

func (r *RedisStore) keys(consumer, model string) scopeKey {
	k := scopeKey{base: r.prefix + "{" + hashTag(consumer) + "}:"}
	if model != "" {
		k.suffix = ":m:" + model
	}
	return k
}

func (k scopeKey) counter(name string, period int64) string {
	return k.base + name + ":" + strconv.FormatInt(period, 10) + k.suffix
}

func (k scopeKey) fixed(name string) string { return k.base + name + k.suffix }

// hashTag is the consumer id made safe as a Cluster hash tag: an id with a
// brace, or empty, would end the tag early or make Redis hash the whole key,
// scattering a consumer's keys across slots. Such ids (and ids starting with
// "=", so escaped forms cannot collide with real ids) are hex-encoded.
func hashTag(consumer string) string {
	if consumer == "" || strings.ContainsAny(consumer, "{}") || strings.HasPrefix(consumer, "=") {
		return "=" + hex.EncodeToString([]byte(consumer))
	}
	return consumer
}
