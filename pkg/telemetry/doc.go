// Package telemetry holds the gateway's observability building blocks:
// Prometheus metrics on an injected registry (Metrics), OpenTelemetry tracing
// configured only by the standard OTEL_* variables (SetupTracing and the span
// helpers), and slog logging with header redaction and opt-in content logging.
//
// Nothing here keeps package-level state: every Metrics value owns its series,
// every tracer provider is returned to the caller, and loggers are built on the
// writer they are given. Label values that come from traffic (consumers, models,
// providers) pass through a guard fed from configuration, so a client cannot
// grow the number of series by sending made-up model names.
package telemetry
