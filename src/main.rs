//! The `foldbank` binary: parse the command line, run the command it names.

use std::process::ExitCode;

use clap::Parser;
use foldbank::cli::{self, Cli};

/// mimalloc instead of the system allocator: a command allocates many small, short-lived
/// buffers (JSON, SQL arguments, rows), and glibc's malloc was a sixth of the server's CPU
/// under load (see the benchmarks in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
