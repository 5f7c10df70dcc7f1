// Package quota decides, before any provider is called, whether a consumer may
// send a request, and reconciles what it reserved with what the provider
// actually used. Counters live in a Store shared by every replica (Redis) or in
// memory for a single replica; both implement the same semantics and pass one
// conformance suite.
//
// # Limits and windows
//
// Per-minute limits (requests and tokens) use a two-bucket sliding window
// counter: counts are kept per fixed minute (UTC, from the injected clock), and
// the usage seen at time t is
//
//	floor(previous * (60s - elapsed) / 60s) + current
//
// where elapsed is the time since the current minute began. This approximates a
// true sliding window (a client cannot burst twice the limit across a minute
// boundary) with two integers per scope and no per-request log; rounding down
// lets the previous minute count at most one unit less than its exact weight. Day and month
// budgets are plain counters of UTC calendar periods. The clock decides the
// period: every counter key carries its period number, and Redis TTLs exist only
// to collect keys once nobody can read them.
//
// # Admission flow
//
//  1. AdmitAndReserve, once the body is parsed (the gateway's one call per
//     request), atomically counts the request against the consumer's and, when
//     set, the model scope's requests per minute, checks and reserves the
//     estimated tokens (prompt + max output) against their tokens per minute,
//     day and month, and takes a concurrency slot. All checks pass or nothing
//     is written. A Redis Cluster accepts the script because every key of a
//     consumer shares the {consumer} hash tag. (AdmitRequest and Reserve do
//     the two halves separately, for a caller that must count a request before
//     its cost is known.)
//  2. Reconcile replaces the reservation by the actual usage in the counters of
//     the periods the reservation was made in, and frees the slot. Usage is
//     attributed to the minute, day and month of admission, even if the request
//     finished after the day rolled over: the budget that admitted it pays for it.
//     With Options.BackgroundUsage the write is queued and the flusher sends
//     queued writes in batches (one pipeline each), except for reservations
//     under a concurrency limit, reconciled at once so the slot is free.
//
// A reservation never reconciled (a sidecar crash) expires after the
// reservation TTL: the next call touching that scope refunds its tokens (if
// their periods are still current) and frees its slot. A late Reconcile of an
// expired reservation still charges the actual tokens, once.
//
// # Leases
//
// With Options.Leases a replica reserves credit for many requests in one
// store call (a reservation with ReserveOp.Requests > 1: it counts those
// requests, their expected tokens and, under a concurrency limit, several
// slots) and admits AdmitAndReserve calls against it in memory. A lease stops
// admitting after LeaseOptions.MaxAge, at the end of its minute, when it runs
// out or the limits change; it is then settled: what it did not use goes back
// at once (ReconcileOp.UnusedRequests, a partial settlement while some of its
// requests still run), the rest when its last request is reconciled. Lease
// settlements go through the usage queue, in order.
// The store grants a lease only if all of its credit fits, so replicas
// together never exceed a limit; a lease takes at most 1/Share of a limit's
// headroom, and near a limit requests go to the store one by one.
//
// # Trouble
//
// The Limiter bounds every store call by Options.Timeout, opens a circuit
// breaker after repeated failures so a dead Redis costs no waiting, and then
// either fails closed (ErrUnavailable, for a fast 503) or falls back to a local
// in-memory store so limits still hold per replica. Reconciliations that cannot
// be written are queued (bounded) and written by the background flusher when
// the store is back; Close flushes what is left. go-redis never re-sends a
// script on its own (a script whose answer was lost may have run).
package quota
