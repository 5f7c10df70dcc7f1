# syntax=docker/dockerfile:1
#
# Images for the LLM gateway. One build stage compiles every binary once; each
# runtime target carries exactly one static binary on distroless/static, so the
# production sidecar image never ships the mock provider.
#
#   docker build -t llm-gateway/gateway:dev .                      # sidecar (default target)
#   docker build -t llm-gateway/mock-llm:dev --target mock-llm .   # mock provider, demos only
#
# The sidecar reads /etc/gateway/gateway.yaml. No config is baked in: mount one
# (a directory, not a single file, so hot reload sees ConfigMap symlink swaps and
# editor renames). Secrets come from the environment or mounted files.
# The images have no shell: health checks must come from outside (see
# docker-compose.yaml and k8s/deployment.yaml).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
# Static, reproducible binaries: no cgo, no local paths, no symbol tables; the
# vtprotobuf tag compiles go-control-plane's generated marshalling code, which
# the sidecar's gRPC codec uses (pkg/protocodec).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags vtprotobuf -ldflags "-s -w" -o /out/ ./cmd/gateway ./cmd/mock-llm

# OpenAI-compatible mock provider for compose demos and load tests.
FROM gcr.io/distroless/static-debian12:nonroot AS mock-llm
COPY --from=build /out/mock-llm /usr/local/bin/mock-llm
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/mock-llm"]
CMD ["-listen", "0.0.0.0:8081"]

# The ext_proc sidecar. Last stage, so a plain `docker build .` produces it.
FROM gcr.io/distroless/static-debian12:nonroot AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
USER 65532:65532
# 50051: ext_proc gRPC (Envoy, same pod); 9090: /healthz, /readyz, /metrics.
EXPOSE 50051 9090
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve", "-config", "/etc/gateway/gateway.yaml"]
