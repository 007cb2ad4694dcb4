# syntax=docker/dockerfile:1
#
# portico-cp: the control plane (Admin API, configuration store, sync server). Build from
# the repository root:
#
#   docker build -f deploy/docker/portico-cp.Dockerfile -t portico-cp .
#
# The runtime image is distroless: no shell, no package manager, no HTTP client. The
# health check runs the binary itself (`portico-cp health` asks /status, sending
# PORTICO_ADMIN_TOKEN when it is set, and requires the database to be reachable).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The whole workspace is needed to resolve it (Cargo.lock, every member's manifest).
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY common common
COPY control-plane control-plane
COPY data-plane data-plane
COPY tests tests
COPY bench bench
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p control-plane --bin portico-cp \
    && install -D -m 0755 target/release/portico-cp /out/portico-cp
# The prefix (node id; the embedded SQLite database when no PORTICO_DATABASE_URL is set)
# and the cluster certificate directory, owned by the runtime user so that fresh named
# volumes mounted there inherit that ownership (the Compose file's `certs` service writes
# into the latter).
RUN install -d -m 0700 /out/prefix /out/cluster

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/portico-cp /usr/local/bin/portico-cp
COPY --from=build --chown=65532:65532 /out/prefix /var/lib/portico
COPY --from=build --chown=65532:65532 /out/cluster /etc/portico/cluster
USER 65532:65532
ENV PORTICO_PREFIX=/var/lib/portico
VOLUME ["/var/lib/portico"]
# 8001: Admin API (binds 127.0.0.1 unless PORTICO_ADMIN_LISTEN says otherwise: publish it
# deliberately). 8005: cluster listener for data planes.
EXPOSE 8001 8005
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/portico-cp", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portico-cp"]
CMD ["serve"]
