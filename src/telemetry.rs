//! Logging and tracing set-up, and how errors are written into logs.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For a person at a terminal.
    Pretty,
    /// One JSON object a line, for a log collector.
    Json,
}

/// `error: its cause: the cause of that ...`: the whole `source()` chain on one line, for logs
/// and `GET /projections` (a `Display` of the outer error alone hides the reason).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    /// The server's logs, for a log collector.
    Stdout,
    /// The logs of a command whose answer is its standard output (`foldbank verify`, and
    /// `foldbank keys create`, whose new key scripts capture).
    Stderr,
}

/// Installs the global subscriber, logging to standard output. An invalid filter falls back to
/// `info` with a warning rather than refusing to start.
pub fn init(filter: &str, format: LogFormat) {
    init_to(filter, format, LogOutput::Stdout);
}

/// [`init`], logging to `output`.
pub fn init_to(filter: &str, format: LogFormat, output: LogOutput) {
    let (filter, invalid) = match EnvFilter::try_new(filter) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let writer = match output {
        LogOutput::Stdout => BoxMakeWriter::new(std::io::stdout),
        LogOutput::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_err() {
        return;
    }
    if let Some(error) = invalid {
        tracing::warn!(%error, "invalid log filter; using `info`");
    }
}
