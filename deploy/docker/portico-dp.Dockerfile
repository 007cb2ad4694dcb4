# syntax=docker/dockerfile:1
#
# portico-dp: the data plane (proxy). Build from the repository root:
#
#   docker build -f deploy/docker/portico-dp.Dockerfile -t portico-dp .
#
# The runtime image is distroless: no shell, no package manager, no HTTP client. The
# health check runs the binary itself (`portico-dp health` asks /status/ready).

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
    cargo build --release --locked -p data-plane --bin portico-dp \
    && install -D -m 0755 target/release/portico-dp /out/portico-dp
# The prefix (node id + configuration cache), owned by the runtime user so a fresh named
# volume mounted there inherits that ownership.
RUN install -d -m 0700 /out/prefix

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/portico-dp /usr/local/bin/portico-dp
COPY --from=build --chown=65532:65532 /out/prefix /var/lib/portico
USER 65532:65532
# Containers are reached from outside their network namespace: the status API must not be
# bound to loopback only, or orchestrator probes cannot reach it.
ENV PORTICO_PREFIX=/var/lib/portico \
    PORTICO_PROXY_LISTEN=0.0.0.0:8000 \
    PORTICO_PROXY_LISTEN_TLS=0.0.0.0:8443 \
    PORTICO_STATUS_LISTEN=0.0.0.0:8100
VOLUME ["/var/lib/portico"]
EXPOSE 8000 8443 8100
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/portico-dp", "health"]
# SIGTERM drains: in-flight requests finish, the process exits within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portico-dp"]
CMD ["serve"]
