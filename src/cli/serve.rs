//! `foldbank serve` (the default): the HTTP server with its followers, until SIGTERM or Ctrl-C.

use crate::integration::delivery::DeliverySettings;
use crate::integration::secrets;
use std::process::ExitCode;
use std::sync::Arc;

use super::{Outcome, connect};
use crate::app::{self, App, HttpSettings};
use crate::auth::KeyStore;
use crate::clock::{SystemClock, UuidV7};
use crate::config::{Config, ConfigError};
use crate::http::auth::AuthMode;
use crate::privacy::MasterKey;
use crate::projection::{Progress, Replicas};
use crate::store::chain;

/// How often the hold expiry scheduler looks for holds past their deadline.
const HOLD_EXPIRY_ROUND: std::time::Duration = std::time::Duration::from_secs(1);

/// How often the checkpoint signer looks whether the chain's head is due for a signature.
const CHECKPOINT_LOOK: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) async fn run(config: Config) -> Outcome {
    config.validate()?;
    let signer = config.chain_signer()?;
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
    link_the_log(&databases.write).await?;
    let auth = auth_mode(&config, &KeyStore::new(databases.write.clone())).await?;
    let master_key = master_key(&config, auth)?;
    let previous_master_key = config
        .previous_master_key_file
        .as_deref()
        .map(MasterKey::read)
        .transpose()?;
    tracing::info!(
        master_key = master_key.id(),
        previous_master_key = previous_master_key.as_ref().map(MasterKey::id),
        "personal data is sealed per owner"
    );
    let replicas = Replicas::connect(&config.replica_urls, &databases, config.database_max_connections)?;
    replicas.check(&databases.read).await?;
    let app = App::new(databases.clone(), Arc::new(SystemClock), Arc::new(UuidV7))
        .with_replicas(replicas.clone(), config.replica_wait())
        .with_master_key(master_key)
        .with_previous_master_key(previous_master_key)
        .with_read_wait(config.read_wait())
        .with_poll_interval(config.projection_poll_interval())
        .with_event_streams(config.event_streams())
        .with_slow_command_threshold(config.slow_command_threshold())
        .with_snapshot_interval(config.snapshot_every_events)
        .with_ready_max_lag(config.ready_max_lag)
        .with_auth(auth)
        .with_webhook_allow_private(config.webhook_allow_private)
        .with_chain_signer(signer);
    let projections = app.start_projections();
    app.catch_up().await?;
    tracing::info!("projections caught up");
    let transfers = app.start_transfer_process();
    let policies = app.start_policies();
    let expiry = app.start_hold_expiry(HOLD_EXPIRY_ROUND);
    let sealed = secrets::seal_plain(&databases.write, &app.http.keyring.master_keys()).await?;
    if sealed > 0 {
        tracing::info!(
            sealed,
            "webhook secrets stored as shown are now sealed under the master key"
        );
    }
    let (webhook_outbox, webhook_sender) = app.start_webhooks(DeliverySettings {
        allow_private: config.webhook_allow_private,
        ..DeliverySettings::default()
    })?;
    let checkpoints = app.start_checkpoint_signer(config.checkpoint_cadence(), CHECKPOINT_LOOK);
    match &app.chain_signer {
        Some(signer) => {
            tracing::info!(public_key = %signer.public_key().to_base64(), "signing the hash chain's checkpoints")
        }
        None => tracing::info!("no --signing-key-file: the hash chain's checkpoints are not signed"),
    }
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
    let event_streams = app.http.event_streams.clone();
    let shutdown = async move {
        app::shutdown_signal().await;
        event_streams.close();
    };
    app::serve(listener, router, shutdown).await?;
    // In-flight requests are done; followers finish the batch in hand, then stop.
    app.shutdown.cancel();
    // The scheduler's round in hand goes through the command side, before the followers stop.
    let _ = expiry.await;
    if let Some(checkpoints) = checkpoints {
        let _ = checkpoints.await;
    }
    let _ = webhook_sender.await;
    webhook_outbox.stop().await;
    transfers.stop().await;
    policies.stop().await;
    projections.stop().await;
    let _ = housekeeping.await;
    replicas.close().await;
    databases.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Links every event of a log that predates the hash chain (or was appended by an older
/// version beside this one), before this process appends.
async fn link_the_log(database: &crate::db::Database) -> Result<(), crate::store::StoreError> {
    let mut progress = Progress::in_log("linking the log into the hash chain");
    let mut linked = false;
    let head = chain::catch_up(database, |position, head| {
        progress.aim_at(head);
        progress.reached(position);
        linked = true;
    })
    .await?;
    if linked {
        progress.finish();
        tracing::info!(head, "the hash chain covers the log");
    }
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

/// The master key of personal data: the configured file; in local development a key kept
/// beside the database, made on the first start (and said at every start); with API keys but no
/// file, none: the server refuses to start rather than make a key nobody chose to keep.
fn master_key(config: &Config, auth: AuthMode) -> Result<MasterKey, Box<dyn std::error::Error>> {
    if let Some(path) = &config.master_key_file {
        return Ok(MasterKey::read(path)?);
    }
    if auth != AuthMode::Open {
        return Err(ConfigError::NoMasterKey.into());
    }
    let path = config.development_master_key_file();
    let key = if path.exists() {
        MasterKey::read(&path)?
    } else {
        let key = MasterKey::generate()?;
        match key.write_new(&path) {
            Ok(()) => key,
            // Another process starting beside this one wrote it first: use theirs.
            Err(_) if path.exists() => MasterKey::read(&path)?,
            Err(error) => return Err(error.into()),
        }
    };
    tracing::warn!(
        path = %path.display(),
        "development mode: personal data is sealed with a master key kept beside the database; \
         give a real deployment its own, kept apart from the database and its backups, with \
         --master-key-file (`foldbank master-key create PATH`)"
    );
    Ok(key)
}
