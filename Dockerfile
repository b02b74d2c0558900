# foldbank container image: build with cargo, run on slim Debian as a non-root user.
#
#   docker build -t foldbank .
#   docker run --rm -v foldbank-data:/var/lib/foldbank foldbank keys create --operator  # a key first
#   docker run -p 8080:8080 -v foldbank-data:/var/lib/foldbank foldbank            # SQLite
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://user:pass@host/db foldbank  # PostgreSQL
#
# The service listens on 0.0.0.0 here, so it starts only once an API key exists in its
# database (`foldbank keys create`, see "Security" in docs/operating.md); without one it exits and
# says how to make one.
#
# The build stage runs exactly what CI runs (`cargo build --release --locked`), so the binary
# CI tests with the demo script and schemathesis is the binary this image ships.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked

FROM debian:bookworm-slim
# curl serves the HEALTHCHECK only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/foldbank foldbank
COPY --from=build /src/target/release/foldbank /usr/local/bin/foldbank
USER 10001:10001
WORKDIR /var/lib/foldbank
# The default SQLite database lives here; mount a volume to keep it.
VOLUME ["/var/lib/foldbank"]
ENV BIND_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/foldbank/foldbank.db?mode=rwc \
    LOG_FORMAT=json \
    RUST_LOG=info
# A public address needs API keys (`foldbank keys create`), and with keys the service needs a
# master key for personal data: make one with `foldbank master-key create PATH`, keep it apart
# from the volume and its backups, mount it as a secret and set
# FOLDBANK_MASTER_KEY_FILE=/run/secrets/foldbank-master-key.
EXPOSE 8080
# Ready: the database answers, its schema is this build's, the read models are within
# READY_MAX_LAG events of the log (GET /health/live is the liveness check).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/health/ready"]
ENTRYPOINT ["foldbank"]
CMD ["serve"]
