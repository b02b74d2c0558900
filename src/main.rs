//! The `foldbank` binary: parse the configuration, start tracing, run.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use foldbank::app::{self, AppState, HttpSettings};
use foldbank::clock::{SystemClock, UuidV7};
use foldbank::config::{Cli, Command, Config};
use foldbank::db::Database;
use foldbank::process::TransferProcessSettings;
use foldbank::projection::ProjectorSettings;
use foldbank::{http, telemetry};

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
            match rebuild(&cli.config, &projection).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = %error_chain(&*error), "rebuild failed");
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

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    config.validate()?;
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    tracing::info!(backend = database.backend(), "database ready");
    let state = AppState::new(database.clone(), Arc::new(SystemClock), Arc::new(UuidV7))
        .with_read_wait(config.read_wait());
    let projector = state
        .start_projector(ProjectorSettings {
            poll_interval: config.projection_poll_interval(),
            ..ProjectorSettings::default()
        })
        .await?;
    tracing::info!("projections caught up");
    let transfers = state.start_transfer_process(TransferProcessSettings {
        poll_interval: config.projection_poll_interval(),
        ..TransferProcessSettings::default()
    });
    let router = app::router(
        state,
        HttpSettings {
            request_timeout: config.request_timeout(),
        },
    );
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "listening; Swagger UI at /swagger-ui/");
    app::serve(listener, router, app::shutdown_signal()).await?;
    drop(transfers);
    projector.stop();
    database.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Rewinds one projection (or all) so the projector replays the log into it.
async fn rebuild(config: &Config, projection: &str) -> Result<(), Box<dyn std::error::Error>> {
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let names = if projection == "all" {
        foldbank::projection::names()
    } else {
        vec![projection]
    };
    for name in names {
        foldbank::projection::rebuild(&database, name).await?;
        tracing::info!(
            projection = name,
            "rewound; the projector replays the log into it"
        );
    }
    database.close().await;
    Ok(())
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}
