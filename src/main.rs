//! The `foldbank` binary: parse the configuration, start tracing, run.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use foldbank::app::{self, App, HttpSettings};
use foldbank::auth::{KeyStore, Role};
use foldbank::clock::{SystemClock, UuidV7};
use foldbank::config::{
    Cli, Command, Config, ConfigError, KeysAction, ParkedAction, RebuildTarget, SnapshotsCommand,
};
use foldbank::db::{Database, DatabaseError, Databases};
use foldbank::domain::ids::OwnerId;
use foldbank::follow::parking;
use foldbank::http::auth::AuthMode;
use foldbank::projection::{Progress, ProjectionName, SetAsideEvents};
use foldbank::query::ReadModels;
use foldbank::telemetry::{LogOutput, error_chain};
use foldbank::{http, projection, store, telemetry};

/// mimalloc instead of the system allocator: a command allocates many small, short-lived
/// buffers (JSON, SQL arguments, rows), and glibc's malloc was a sixth of the server's CPU
/// under load (see the benchmarks in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Openapi) => {
            print!("{}", http::openapi::openapi_json());
            ExitCode::SUCCESS
        }
        Some(Command::Rebuild { projection }) => {
            telemetry::init(&cli.config.log_filter, cli.config.log_format);
            match rebuild(&cli.config, projection).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "rebuild failed");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Verify) => {
            // The report is the answer, on stdout; logs and progress go to stderr.
            telemetry::init_to(&cli.config.log_filter, cli.config.log_format, LogOutput::Stderr);
            match verify(&cli.config).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "verify failed");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Parked { action }) => {
            telemetry::init(&cli.config.log_filter, cli.config.log_format);
            match parked(&cli.config, action).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "parked failed");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Snapshots {
            action: SnapshotsCommand::Clear,
        }) => {
            telemetry::init(&cli.config.log_filter, cli.config.log_format);
            match clear_snapshots(&cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "clearing the snapshots failed");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Keys { action }) => {
            telemetry::init_to(&cli.config.log_filter, cli.config.log_format, LogOutput::Stderr);
            match keys(&cli.config, action).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "keys failed");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Serve) | None => {
            telemetry::init(&cli.config.log_filter, cli.config.log_format);
            match serve(cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "foldbank stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The write database and, when `READ_DATABASE_URL` is set, the read database; both migrated.
async fn connect(config: &Config) -> Result<Databases, DatabaseError> {
    Databases::connect(
        &config.database_url,
        config.read_database_url.as_deref(),
        config.database_max_connections,
    )
    .await
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    config.validate()?;
    let databases = connect(&config).await?;
    if databases.is_split() {
        tracing::info!(
            backend = %databases.write.backend(),
            read_backend = %databases.read.backend(),
            "databases ready; the read models live in the read database"
        );
    } else {
        tracing::info!(backend = %databases.write.backend(), "database ready");
    }
    let auth = auth_mode(&config, &KeyStore::new(databases.write.clone())).await?;
    let app = App::new(databases.clone(), Arc::new(SystemClock), Arc::new(UuidV7))
        .with_read_wait(config.read_wait())
        .with_poll_interval(config.projection_poll_interval())
        .with_event_streams(config.event_streams())
        .with_slow_command_threshold(config.slow_command_threshold())
        .with_ready_max_lag(config.ready_max_lag)
        .with_auth(auth);
    let projections = app.start_projections();
    app.catch_up().await?;
    tracing::info!("projections caught up");
    let transfers = app.start_transfer_process();
    let housekeeping = app.start_housekeeping();
    let router = app.router(HttpSettings {
        request_timeout: config.request_timeout(),
        max_requests_in_flight: config.max_requests_in_flight(),
        rate_limit: config.rate_limit(),
        refused_rate_limit: config.refused_rate_limit(),
    });
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "listening; Swagger UI at /swagger-ui/");
    // Event streams never end by themselves: close them as shutdown begins, or the graceful
    // shutdown would wait for them forever.
    let event_streams = app.event_streams.clone();
    let shutdown = async move {
        app::shutdown_signal().await;
        event_streams.close();
    };
    app::serve(listener, router, shutdown).await?;
    // In-flight requests are done; followers finish the batch in hand, then stop.
    app.shutdown.cancel();
    transfers.stop().await;
    projections.stop().await;
    let _ = housekeeping.await;
    databases.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Whether requests need a key: yes as soon as one exists; without any, only on a loopback
/// address, for local development (said loudly at every start), and never on any other.
async fn auth_mode(config: &Config, keys: &KeyStore) -> Result<AuthMode, Box<dyn std::error::Error>> {
    if keys.any_active().await? {
        return Ok(AuthMode::Keys);
    }
    if !config.bind.ip().is_loopback() {
        return Err(ConfigError::NoKeysOnAPublicAddress { bind: config.bind }.into());
    }
    tracing::warn!(
        bind = %config.bind,
        "development mode: no API key exists, so requests need none and every account is open to \
         anyone on this machine; create one with `foldbank keys create --operator` to require keys"
    );
    Ok(AuthMode::Open)
}

/// Creates, lists or revokes API keys.
async fn keys(config: &Config, action: KeysAction) -> Result<(), Box<dyn std::error::Error>> {
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let keys = KeyStore::new(database.clone());
    match action {
        KeysAction::Create {
            owner,
            operator: _,
            label,
        } => {
            let role = match owner {
                Some(owner) => Role::Customer(OwnerId(owner)),
                None => Role::Operator,
            };
            let created = keys.create(role, label.as_deref(), chrono::Utc::now()).await?;
            eprintln!(
                "key {} created; it is shown this once, keep it secret:",
                created.key_id
            );
            println!("{}", created.key);
        }
        KeysAction::List => {
            for key in keys.list().await? {
                println!(
                    "{} {} {} {} created={}{}",
                    key.key_id,
                    key.kind,
                    key.owner_id
                        .map_or_else(|| "-".to_owned(), |owner| owner.to_string()),
                    key.label.as_deref().unwrap_or("-"),
                    key.created_at.to_rfc3339(),
                    key.revoked_at
                        .map_or_else(String::new, |at| format!(" revoked={}", at.to_rfc3339())),
                );
            }
        }
        KeysAction::Revoke { key_id } => {
            if !keys.revoke(key_id, chrono::Utc::now()).await? {
                return Err(format!("no active key {key_id}").into());
            }
            println!("key {key_id} revoked");
        }
    }
    database.close().await;
    Ok(())
}

/// Lists, retries or skips parked events, each in the database of its follower's checkpoint.
async fn parked(config: &Config, action: ParkedAction) -> Result<(), Box<dyn std::error::Error>> {
    let databases = connect(config).await?;
    let known = |follower: &str| {
        if app::follower_names().contains(&follower) {
            Ok(())
        } else {
            Err(format!(
                "no follower named {follower:?}; followers: {}",
                app::follower_names().join(", ")
            ))
        }
    };
    match action {
        ParkedAction::List => {
            let parked = ReadModels::new(databases.clone()).parked_events().await?;
            if parked.is_empty() {
                println!("no parked events");
            }
            for event in parked {
                println!(
                    "{} {} {} {} attempts={}{} parked_at={}\n    {}",
                    event.follower,
                    event.position,
                    event.event_type,
                    event.event_id,
                    event.attempts,
                    if event.retry_requested {
                        " retry-requested"
                    } else {
                        ""
                    },
                    event.parked_at.to_rfc3339(),
                    event.error,
                );
            }
        }
        ParkedAction::Retry { follower, position } => {
            known(&follower)?;
            let database = projection::checkpoint_database(&databases, &follower);
            if let Ok(projection) = follower.parse::<ProjectionName>() {
                let parked = parking::parked_events(database).await?;
                if !parked
                    .iter()
                    .any(|event| event.follower == follower && event.position == position)
                {
                    return Err(format!("{follower} parked nothing at position {position}").into());
                }
                // A rebuild that folds its parked events, and forgets them in its swap: one that
                // cannot run (another holds it, or one still cannot be folded) forgets nothing.
                let store = store::event_store(&databases.write);
                projection::rebuild_with(
                    database,
                    &*store,
                    &[projection],
                    SetAsideEvents::RetryParked,
                    Progress::on_stderr("rebuild"),
                )
                .await?;
                println!("{follower}: rebuilt from the log, its parked events with it");
            } else if parking::request_retry(database, &follower, position).await? {
                println!("{follower} {position}: retry requested; a running server handles it");
            } else {
                return Err(format!("{follower} parked nothing at position {position}").into());
            }
        }
        ParkedAction::Skip { follower, position } => {
            known(&follower)?;
            let database = projection::checkpoint_database(&databases, &follower);
            if !parking::skip(database, &follower, position).await? {
                return Err(format!("{follower} parked nothing at position {position}").into());
            }
            println!("{follower} {position}: skipped");
        }
    }
    databases.close().await;
    Ok(())
}

/// Rebuilds one read model (or all) from the log, beside the live one, then swaps it in.
async fn rebuild(config: &Config, target: RebuildTarget) -> Result<(), Box<dyn std::error::Error>> {
    let databases = connect(config).await?;
    let store = store::event_store(&databases.write);
    let names = target.projections();
    let rebuilt =
        projection::rebuild(&databases.read, &*store, &names, Progress::on_stderr("rebuild")).await?;
    for name in names {
        tracing::info!(
            projection = %name,
            events = rebuilt.events,
            position = rebuilt.position,
            "rebuilt from the log and swapped in"
        );
    }
    if target.clears_snapshots() {
        let cleared = store::clear_snapshots(&databases.write).await?;
        tracing::info!(
            cleared,
            "snapshots deleted; restart the service to empty its state cache"
        );
    }
    databases.close().await;
    Ok(())
}

/// Compares every read model with the fold of the log; prints the report on stdout and
/// answers whether they are all equal.
async fn verify(config: &Config) -> Result<bool, Box<dyn std::error::Error>> {
    let databases = connect(config).await?;
    let store = store::event_store(&databases.write);
    let verification = projection::verify(&databases.read, &*store, Progress::on_stderr("verify")).await?;
    println!("{verification}");
    databases.close().await;
    Ok(verification.is_consistent())
}

/// Deletes every snapshot, so that loads replay the events (with the `evolve` of this build).
async fn clear_snapshots(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let cleared = store::clear_snapshots(&database).await?;
    tracing::info!(
        cleared,
        "snapshots deleted; restart the service to empty its state cache"
    );
    database.close().await;
    Ok(())
}
