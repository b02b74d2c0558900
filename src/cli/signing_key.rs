//! `foldbank signing-key create|public PATH`: the Ed25519 key that signs the hash chain's
//! checkpoints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::Outcome;
use crate::store::chain::checkpoint::ChainSigner;

#[derive(Debug, Subcommand)]
pub enum SigningKeyAction {
    /// Make a new key and write it to PATH as PKCS#8 PEM, readable by its owner only (never
    /// over an existing file); print its public key, as `GET /chain` and `verify --chain
    /// --public-key` take it.
    Create { path: PathBuf },
    /// Print the public key of the key at PATH (base64 of its raw 32 bytes).
    Public { path: PathBuf },
}

/// Makes a key, or prints a key's public half, on stdout.
pub(super) fn run(action: SigningKeyAction) -> Outcome {
    let public_key = match action {
        SigningKeyAction::Create { path } => {
            let signer = ChainSigner::generate()?;
            signer.write_new(&path)?;
            tracing::info!(path = %path.display(), "signing key written; start the service with --signing-key-file");
            signer.public_key()
        }
        SigningKeyAction::Public { path } => ChainSigner::read(&path)?.public_key(),
    };
    println!("{}", public_key.to_base64());
    Ok(ExitCode::SUCCESS)
}
