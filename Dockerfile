# syntax=docker/dockerfile:1
# Fluxhook: one image with all four binaries (api, dispatcher, worker and
# the all-in-one fluxhook), static (CGO_ENABLED=0; SQLite is the pure-Go
# modernc.org/sqlite), on distroless static, as the nonroot user.
#   docker build -t ghcr.io/fluxhook/fluxhook:dev .      (or: make image)
# Kubernetes selects the binary with `command` (deploy/k8s); `docker run`
# without arguments starts the all-in-one.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    mkdir -p /out /data && \
    go build -trimpath -ldflags "-s -w -X github.com/fluxhook/fluxhook/internal/process.Version=${VERSION}" \
      -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/api /out/dispatcher /out/worker /out/fluxhook /usr/local/bin/
# An empty directory the nonroot user owns, for the all-in-one's data.
COPY --from=build --chown=65532:65532 /data /var/lib/fluxhook
USER 65532:65532
# The all-in-one keeps its data here; mount a volume to keep it.
ENV FLUXHOOK_DATA_DIR=/var/lib/fluxhook
WORKDIR /var/lib/fluxhook
EXPOSE 8080 9090
ENTRYPOINT []
CMD ["/usr/local/bin/fluxhook"]
