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
        Some(Command::Serve) | None => {
            telemetry::init(&cli.config.log_filter, cli.config.log_format);
            match serve(cli.config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    let mut message = error.to_string();
                    let mut source = error.source();
                    while let Some(cause) = source {
                        message.push_str(&format!(": {cause}"));
                        source = cause.source();
                    }
                    tracing::error!(error = %message, "foldbank stopped");
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
