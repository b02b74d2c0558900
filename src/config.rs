//! Command line and environment configuration, parsed and validated once at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use crate::telemetry::LogFormat;

/// The default database: an SQLite file in the working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://foldbank.db?mode=rwc";

/// How long a replica has to answer a query, once it reflects the query's `min_position`,
/// before the primary is asked instead.
pub const REPLICA_ANSWER_TIME: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(global = true, long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    #[arg(global = true, long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// A second database for the read models and their checkpoints (`sqlite://read.db?mode=rwc`
    /// or `postgres://user@host/read`); without it they live beside the log in `DATABASE_URL`.
    #[arg(global = true, long, env = "READ_DATABASE_URL", hide_env_values = true)]
    pub read_database_url: Option<String>,

    /// A hot standby of the read database (PostgreSQL streaming replication) that serves
    /// queries: `postgres://user@standby:5432/db`. Repeat for several (or separate them by
    /// spaces in `REPLICA_URLS`); queries go to each in turn, commands and followers always to
    /// the primary. See "Reads from hot standbys" in docs/operating.md.
    #[arg(
        global = true,
        long = "replica-url",
        env = "REPLICA_URLS",
        value_delimiter = ' ',
        hide_env_values = true
    )]
    pub replica_urls: Vec<String>,

    /// How much of `--read-wait-ms` a query with `min_position` spends waiting for a replica to
    /// reach it before it asks the primary.
    #[arg(global = true, long, env = "REPLICA_WAIT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub replica_wait_ms: u64,

    /// Maximum open database connections (at least 2: on PostgreSQL the projector's `LISTEN`
    /// keeps one).
    #[arg(global = true, long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub database_max_connections: u32,

    /// Log filter in `tracing` syntax, e.g. `info,foldbank=debug`.
    #[arg(global = true, long = "log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// `pretty` for people, `json` for log collectors.
    #[arg(global = true, long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Requests taking longer are answered 408.
    #[arg(global = true, long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,

    /// How long a query with `min_position` waits for the read model before answering 503.
    #[arg(global = true, long, env = "READ_WAIT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub read_wait_ms: u64,

    /// Requests served at once; more are answered `503 overloaded` at once instead of queueing.
    #[arg(global = true, long, env = "MAX_REQUESTS_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_requests_in_flight: u32,

    /// Requests per second each caller (an API key, or an address without one) may send on
    /// average; more are answered `429` with `Retry-After`.
    #[arg(global = true, long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_limit_per_second: u32,

    /// How many requests above the average rate a caller may send at once.
    #[arg(global = true, long, env = "RATE_LIMIT_BURST", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_limit_burst: u32,

    /// Requests per second one client address may send without a valid API key (each one
    /// answered `401`) on average; more are answered `429` before the key is looked up.
    #[arg(global = true, long, env = "REFUSED_RATE_LIMIT_PER_SECOND", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub refused_rate_limit_per_second: u32,

    /// How many requests without a valid key above that rate one address may send at once.
    #[arg(global = true, long, env = "REFUSED_RATE_LIMIT_BURST", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub refused_rate_limit_burst: u32,

    /// How often projectors look for new events when nothing woke them.
    #[arg(global = true, long, env = "PROJECTION_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub projection_poll_ms: u64,

    /// `GET /events/stream` subscribers served at once; one more is answered `503`.
    #[arg(global = true, long, env = "MAX_EVENT_STREAMS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_event_streams: u32,

    /// Seconds an event stream may stay silent before it sends a keep-alive comment.
    #[arg(global = true, long, env = "EVENT_STREAM_KEEP_ALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub event_stream_keep_alive_secs: u64,
    /// An account's folded state is stored beside its events (in the same transaction) once
    /// this many events were added since its last snapshot: a load then replays at most this many.
    #[arg(global = true, long, env = "SNAPSHOT_EVERY_EVENTS", default_value_t = crate::command::SNAPSHOT_EVERY, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub snapshot_every_events: i64,

    /// A command that takes at least this long is logged at WARN (0: every command).
    #[arg(global = true, long, env = "SLOW_COMMAND_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub slow_command_ms: u64,

    /// `GET /health/ready` answers 503 while a follower of the log (a read model, the transfer
    /// process manager) is more than this many events behind its head.
    #[arg(global = true, long, env = "READY_MAX_LAG", default_value_t = crate::readiness::DEFAULT_MAX_LAG, value_parser = clap::value_parser!(i64).range(0..))]
    pub ready_max_lag: i64,

    /// Lets webhook subscriptions point at private, loopback and link-local addresses (a
    /// receiver on this machine or its own network). Off by default: a URL someone registers
    /// must not reach what only this service can (no server-side request forgery).
    #[arg(global = true, long, env = "WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// An Ed25519 private key (PKCS#8 PEM, made by `foldbank signing-key create PATH`): the
    /// service signs the hash chain's head with it now and then (`GET /chain`), and `verify
    /// --chain` checks those signatures with its public key.
    #[arg(global = true, long, env = "SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,

    /// The master key file (made by `foldbank master-key create PATH`) that wraps every owner's
    /// data key, with which their personal data is sealed. Required once API keys exist; in
    /// local development one is made beside the SQLite file (or in the working directory for
    /// PostgreSQL). Every process on one database needs the same file.
    #[arg(global = true, long, env = "FOLDBANK_MASTER_KEY_FILE")]
    pub master_key_file: Option<std::path::PathBuf>,

    /// During a rotation of the master key: the master key being retired. The service still
    /// opens what it wrapped, until `foldbank master-key rotate` has re-wrapped every data key
    /// under `--master-key-file` (see "Personal data" in docs/operating.md).
    #[arg(
        global = true,
        long,
        env = "FOLDBANK_PREVIOUS_MASTER_KEY_FILE",
        requires = "master_key_file"
    )]
    pub previous_master_key_file: Option<std::path::PathBuf>,

    /// With a signing key: sign the chain's head once it has moved this many events past the
    /// last checkpoint...
    #[arg(global = true, long, env = "CHECKPOINT_EVERY_EVENTS", default_value_t = 10_000, value_parser = clap::value_parser!(i64).range(1..))]
    pub checkpoint_every_events: i64,

    /// ...or, when it has moved at all, once this many seconds have passed since the last.
    #[arg(global = true, long, env = "CHECKPOINT_EVERY_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub checkpoint_every_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "--read-wait-ms ({read_wait_ms} ms) must be shorter than --request-timeout-secs ({request_timeout_secs} s), \
         or a waiting query would time out instead of answering 503"
    )]
    ReadWaitTooLong {
        read_wait_ms: u64,
        request_timeout_secs: u64,
    },
    #[error(
        "refusing to serve every account to anyone who can reach {bind}: no API key exists. Create one \
         with `foldbank keys create --operator` (and customer keys with `--owner <uuid>`), or bind a \
         loopback address such as 127.0.0.1:8080 for local development"
    )]
    NoKeysOnAPublicAddress { bind: SocketAddr },
    #[error(
        "API keys exist, so this is no local development: personal data needs a master key. Create one \
         with `foldbank master-key create PATH`, keep it outside the database (and its backups), and \
         start with --master-key-file PATH (every process on this database needs the same file)"
    )]
    NoMasterKey,
    #[error(
        "--replica-url names a PostgreSQL hot standby of the read database, but the read models live in \
         SQLite ({backend_url}): run on PostgreSQL to read from replicas"
    )]
    ReplicasNeedPostgres { backend_url: &'static str },
    #[error(
        "--replica-wait-ms ({replica_wait_ms} ms) and a replica's 2 s to answer must end before \
         --request-timeout-secs ({request_timeout_secs} s), or a read would time out instead of going to the primary"
    )]
    ReplicaWaitTooLong {
        replica_wait_ms: u64,
        request_timeout_secs: u64,
    },
}

impl Config {
    /// Checks the settings that depend on each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.read_wait() >= self.request_timeout() {
            return Err(ConfigError::ReadWaitTooLong {
                read_wait_ms: self.read_wait_ms,
                request_timeout_secs: self.request_timeout_secs,
            });
        }
        let read_url = self.read_database_url.as_deref().unwrap_or(&self.database_url);
        if !self.replica_urls.is_empty() && read_url.starts_with("sqlite:") {
            return Err(ConfigError::ReplicasNeedPostgres {
                backend_url: if self.read_database_url.is_some() {
                    "READ_DATABASE_URL"
                } else {
                    "DATABASE_URL"
                },
            });
        }
        if !self.replica_urls.is_empty()
            && self.replica_wait() + REPLICA_ANSWER_TIME >= self.request_timeout()
        {
            return Err(ConfigError::ReplicaWaitTooLong {
                replica_wait_ms: self.replica_wait_ms,
                request_timeout_secs: self.request_timeout_secs,
            });
        }
        Ok(())
    }

    /// Where local development keeps its master key when none is given: beside the SQLite
    /// file (`foldbank.db` -> `foldbank.db.master-key`), or in the working directory.
    pub fn development_master_key_file(&self) -> std::path::PathBuf {
        use std::str::FromStr;
        let sqlite_file = sqlx::sqlite::SqliteConnectOptions::from_str(&self.database_url)
            .ok()
            .filter(|_| {
                let url = &self.database_url;
                // An in-memory database has no file to keep a key beside.
                url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=memory")
            })
            .map(|options| options.get_filename().to_path_buf())
            .filter(|file| !file.as_os_str().is_empty());
        match sqlite_file {
            Some(file) => {
                let mut name = file.into_os_string();
                name.push(".master-key");
                name.into()
            }
            None => std::path::PathBuf::from("foldbank.master-key"),
        }
    }

    /// When the chain's head is signed (with a signing key).
    pub fn checkpoint_cadence(&self) -> crate::process::checkpoints::Cadence {
        crate::process::checkpoints::Cadence {
            events: self.checkpoint_every_events,
            interval: Duration::from_secs(self.checkpoint_every_secs),
        }
    }

    /// The signing key of the chain's checkpoints, when one is configured.
    pub fn chain_signer(
        &self,
    ) -> Result<Option<crate::store::chain::checkpoint::ChainSigner>, crate::store::chain::checkpoint::KeyError>
    {
        self.signing_key_file
            .as_deref()
            .map(crate::store::chain::checkpoint::ChainSigner::read)
            .transpose()
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn read_wait(&self) -> Duration {
        Duration::from_millis(self.read_wait_ms)
    }

    pub fn replica_wait(&self) -> Duration {
        Duration::from_millis(self.replica_wait_ms)
    }

    pub fn slow_command_threshold(&self) -> Duration {
        Duration::from_millis(self.slow_command_ms)
    }

    pub fn projection_poll_interval(&self) -> Duration {
        Duration::from_millis(self.projection_poll_ms)
    }

    pub fn max_requests_in_flight(&self) -> usize {
        usize::try_from(self.max_requests_in_flight).unwrap_or(usize::MAX)
    }

    /// The event streams' bound and pacing; a caught-up stream polls as often as projectors do.
    pub fn event_streams(&self) -> crate::http::feed_stream::EventStreamSettings {
        crate::http::feed_stream::EventStreamSettings {
            max_streams: usize::try_from(self.max_event_streams).unwrap_or(usize::MAX),
            keep_alive: Duration::from_secs(self.event_stream_keep_alive_secs),
            poll_interval: self.projection_poll_interval(),
        }
    }

    pub fn rate_limit(&self) -> crate::http::RateLimit {
        crate::http::RateLimit {
            per_second: self.rate_limit_per_second,
            burst: self.rate_limit_burst,
        }
    }

    pub fn refused_rate_limit(&self) -> crate::http::RateLimit {
        crate::http::RateLimit {
            per_second: self.refused_rate_limit_per_second,
            burst: self.refused_rate_limit_burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The configuration as the command line parses it.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn a_read_wait_longer_than_the_request_timeout_is_refused() {
        let cli = Cli::parse_from([
            "foldbank",
            "--read-wait-ms",
            "5000",
            "--request-timeout-secs",
            "2",
        ]);
        assert!(matches!(
            cli.config.validate(),
            Err(ConfigError::ReadWaitTooLong { .. })
        ));
        let cli = Cli::parse_from(["foldbank"]);
        assert!(cli.config.validate().is_ok());
    }

    #[test]
    fn replicas_are_refused_when_the_read_models_live_in_sqlite() {
        let replica = ["--replica-url", "postgres://postgres@standby:5432/foldbank"];
        let on_sqlite = Cli::parse_from([&["foldbank"][..], &replica[..]].concat());
        assert!(matches!(
            on_sqlite.config.validate(),
            Err(ConfigError::ReplicasNeedPostgres {
                backend_url: "DATABASE_URL"
            })
        ));
        let read_in_sqlite = Cli::parse_from(
            [
                &[
                    "foldbank",
                    "--database-url",
                    "postgres://postgres@primary/foldbank",
                ][..],
                &["--read-database-url", "sqlite://read.db?mode=rwc"][..],
                &replica[..],
            ]
            .concat(),
        );
        assert!(matches!(
            read_in_sqlite.config.validate(),
            Err(ConfigError::ReplicasNeedPostgres {
                backend_url: "READ_DATABASE_URL"
            })
        ));
        let on_postgres = Cli::parse_from(
            [
                &[
                    "foldbank",
                    "--database-url",
                    "postgres://postgres@primary/foldbank",
                ][..],
                &replica[..],
            ]
            .concat(),
        );
        assert!(on_postgres.config.validate().is_ok());
        assert_eq!(on_postgres.config.replica_urls.len(), 1);
    }

    #[test]
    fn the_limit_of_requests_in_flight_is_at_least_one() {
        let cli = Cli::parse_from(["foldbank", "--max-requests-in-flight", "8"]);
        assert_eq!(cli.config.max_requests_in_flight(), 8);
        assert_eq!(
            Cli::parse_from(["foldbank"]).config.max_requests_in_flight(),
            1024
        );
        assert!(Cli::try_parse_from(["foldbank", "--max-requests-in-flight", "0"]).is_err());
    }

    #[test]
    fn event_streams_are_bounded_and_keep_alive_every_15_seconds_by_default() {
        let settings = Cli::parse_from(["foldbank"]).config.event_streams();
        assert_eq!(settings.max_streams, 64);
        assert_eq!(settings.keep_alive, Duration::from_secs(15));
        let cli = Cli::parse_from(["foldbank", "--max-event-streams", "3"]);
        assert_eq!(cli.config.event_streams().max_streams, 3);
        assert!(Cli::try_parse_from(["foldbank", "--max-event-streams", "0"]).is_err());
    }

    #[test]
    fn local_development_keeps_its_master_key_beside_the_sqlite_file_or_in_the_working_directory() {
        let file = |url: &str| {
            Cli::parse_from(["foldbank", "--database-url", url])
                .config
                .development_master_key_file()
        };
        assert_eq!(
            file("sqlite://foldbank.db?mode=rwc"),
            std::path::Path::new("foldbank.db.master-key")
        );
        assert_eq!(
            file("sqlite:///var/lib/fb/bank.db"),
            std::path::Path::new("/var/lib/fb/bank.db.master-key")
        );
        assert_eq!(
            file("postgres://postgres@127.0.0.1/foldbank"),
            std::path::Path::new("foldbank.master-key")
        );
        assert_eq!(
            file("sqlite::memory:"),
            std::path::Path::new("foldbank.master-key")
        );
    }

    #[test]
    fn the_read_database_is_optional() {
        assert_eq!(Cli::parse_from(["foldbank"]).config.read_database_url, None);
        let cli = Cli::parse_from(["foldbank", "--read-database-url", "sqlite://read.db?mode=rwc"]);
        assert_eq!(
            cli.config.read_database_url.as_deref(),
            Some("sqlite://read.db?mode=rwc")
        );
    }

    #[test]
    fn postgres_needs_a_connection_for_listen() {
        assert!(Cli::try_parse_from(["foldbank", "--database-max-connections", "1"]).is_err());
    }
}
