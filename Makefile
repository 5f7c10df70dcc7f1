# LLM gateway: Envoy ext_proc sidecar. `make run` starts a local stack,
# `make test` installs what the tests need and runs everything.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
GOTESTFLAGS ?= -race -count=1 -timeout 20m
# go-control-plane's generated marshalling code (vtprotobuf), which the
# sidecar's gRPC codec uses, is compiled only with this tag (pkg/protocodec).
# Without it everything works, encoding by reflection: slower. (A -tags of
# your own in GOFLAGS replaces this one: add vtprotobuf to it.)
export GOFLAGS := -tags=vtprotobuf $(GOFLAGS)

.PHONY: all build run test deps vet fmt-check unit fuzz bench load load-floor load-e2e soak clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# Gateway + mock provider + Envoy (or the Envoy stand-in when `envoy` is not on
# PATH), then a demo curl. Ctrl-C stops everything.
run: build
	./scripts/run-local.sh

# Installs missing system packages (redis-server, promtool), then vet, format
# check and the whole test suite with the race detector.
test: deps vet fmt-check unit

deps:
	./scripts/install-deps.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test $(GOTESTFLAGS) ./...

# Short runs of every fuzz target (FUZZTIME each).
FUZZTIME ?= 10s
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME)

# Go benchmarks on the hot paths (see docs/benchmarks.md for recorded numbers).
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./pkg/...

clean:
	rm -rf $(BIN)

# ext_proc load: the load tool plays Envoy against the sidecar (loopback only,
# bounded). `make load` measures the sidecar, `make load-floor` the trivial server.
load: build
	./scripts/bench-extproc.sh gateway

load-floor: build
	./scripts/bench-extproc.sh

# HTTP load through the whole local stack (stand-in + sidecar + Redis + mock
# provider) and the same load straight at the mock: what the gateway path adds.
load-e2e: deps
	./scripts/bench-e2e.sh

# 100,000 mixed requests against the sidecar with Redis quotas; fails when
# goroutines or heap grew, or when memory per open stream grows with its length.
soak: deps
	./scripts/soak.sh
