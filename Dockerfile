# The commerce service as a container image: a static binary on a non-root
# distroless runtime, which holds CA certificates and time zones (the binary
# embeds its own tzdata too) and nothing else: no shell, no package manager.
#
#   docker build -t commerce .
#   docker compose up          # with Postgres, Redis and mailpit: compose.yaml
#
# The binary runs in /app as user 65532 (distroless's nonroot); the default
# file storage keeps uploaded images in /app/data/uploads, which that user
# owns: mount a volume on /app/data to keep them. The image has no HTTP
# client, so its HEALTHCHECK is the binary's own: `commerce healthcheck`
# asks /readyz on HTTP_ADDR (Docker uses it; OCI images, as podman builds
# by default, and Kubernetes ignore it: probe /readyz there).

ARG GO_VERSION=1.26
ARG RUNTIME_BASE=gcr.io/distroless/static-debian12:nonroot

FROM docker.io/library/golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/commerce . \
 && mkdir -p /out/data/uploads

# prebuilt packs a static binary built outside the image (CGO_ENABLED=0 go
# build -o bin/commerce .), for machines that cannot pull the Go image:
#   docker build --target prebuilt -t commerce .
# It cannot prepare /app/data: mount a volume there that user 65532 may write.
FROM ${RUNTIME_BASE} AS prebuilt
COPY bin/commerce /commerce
USER 65532:65532
WORKDIR /app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/commerce", "healthcheck"]
ENTRYPOINT ["/commerce"]
CMD ["serve"]

FROM ${RUNTIME_BASE} AS runtime
COPY --from=build /out/commerce /commerce
COPY --from=build --chown=65532:65532 /out/data /app/data
USER 65532:65532
WORKDIR /app
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/commerce", "healthcheck"]
ENTRYPOINT ["/commerce"]
CMD ["serve"]
