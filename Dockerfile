# One static, non-root image holding the single sisporta binary: the operator
# (`sisporta manager`), the extractor (`sisporta extract`) and the workers
# (`sisporta work`) all run it; the operator gives its own image to the
# CronJobs and Deployments it creates.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t IMAGE .
#   (or `make docker-build`)

FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# Set by buildx for multi-platform builds; plain docker build leaves them empty.
ARG TARGETOS TARGETARCH
# The same command line as `make build` (test/deploy checks it): static,
# no cgo, reproducible paths, the version stamped in.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w -X github.com/sisporta/sisporta/cmd.Version=${VERSION}" \
      -o /out/sisporta .

# distroless static: no shell, no package manager, CA certificates and tzdata
# included (schedules with timeZone, TLS to databases); nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="sisporta" \
      org.opencontainers.image.description="Keeps MySQL a mirror of a read-only SQL Server or MySQL database" \
      org.opencontainers.image.source="https://github.com/sisporta/sisporta" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/sisporta /usr/local/bin/sisporta
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sisporta"]
CMD ["manager"]
