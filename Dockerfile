# One static, non-root image holding the single sisporta binary: the operator,
# the extractor and the workers all run it.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/sisporta/sisporta/cmd.Version=${VERSION}" \
      -o /out/sisporta .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sisporta /usr/local/bin/sisporta
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/sisporta"]
CMD ["manager"]
