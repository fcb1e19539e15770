# syntax=docker/dockerfile:1
# signgate's container image: a static binary on distroless, as non-root,
# with nothing writable but the volume /var/lib/signgate. Run it with a
# read-only root filesystem:
#
#   docker build --build-arg VERSION=v1.4.0 -t signgate:v1.4.0 .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -v signgate-data:/var/lib/signgate \
#     -v ./config.yaml:/etc/signgate/config.yaml:ro signgate:v1.4.0
#
# The binary is built by deploy/build.sh, the script CI builds and tests with.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN VERSION="$VERSION" deploy/build.sh /out/signgate \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
# CA certificates, /etc/passwd with nonroot (65532) and tzdata come with the
# base; there is no shell.
COPY --from=build /out/signgate /usr/local/bin/signgate
COPY deploy/examples/config.yaml /etc/signgate/config.yaml
COPY --from=build --chown=65532:65532 /out/state /var/lib/signgate
USER 65532:65532
VOLUME ["/var/lib/signgate"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/signgate", "probe", "--timeout", "2s", "http://127.0.0.1:8080/readyz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/signgate"]
CMD ["serve", "--config", "/etc/signgate/config.yaml"]
