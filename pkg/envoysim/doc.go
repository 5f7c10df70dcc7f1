// Package envoysim is a Go stand-in for Envoy's side of the ext_proc protocol,
// driven by the project's own envoy.yaml.
//
// Envoy cannot be installed on the machines this project is built and tested
// on, so end-to-end tests and `make run` send their traffic through this
// emulation instead: it parses envoy.yaml with go-control-plane's typed protos
// (LoadConfig) and behaves like the configured filter chain (ext_proc, fault,
// router) for every HTTP request (Proxy). Production runs real Envoy; nothing
// in the product imports this package.
//
// The behaviour follows shared/docs/envoy-ext-proc.md and, where that page is
// silent, Envoy's own source (source/extensions/filters/http/ext_proc). Known
// gaps are listed in the README of cmd/envoy-standin and in LoadConfig errors:
// a config feature the stand-in cannot emulate is rejected rather than
// silently ignored, so a test never passes against behaviour Envoy would not
// have.
package envoysim
