//! Signed checkpoints of the chain: the head's position and link, signed with Ed25519.
//!
//! The chain alone cannot catch whoever can write the log: they can rewrite an event and
//! every link after it, or drop the newest events with their links. A checkpoint signed with a
//! key they do not hold can: its link no longer matches the recomputed one, or its position is
//! past the log's end. The signature covers the ASCII bytes of
//! `foldbank-chain:v1:{position}:{hash-hex}` ([`message`]) and nothing else (`signed_at` is
//! when, for people). Keys are PKCS#8 PEM files (`foldbank signing-key create PATH`); public
//! keys travel as the base64 of their raw 32 bytes.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use super::Link;
use crate::db::{Database, Stored, query};
use crate::secret_file::{self, SecretFileError};

/// What a signing key's file is called in messages.
const WHAT: &str = "signing key";

/// The algorithm `GET /chain` names.
pub const ALGORITHM: &str = "ed25519";

/// The bytes a checkpoint's signature covers.
pub fn message(position: i64, hash: &str) -> String {
    format!("foldbank-chain:v1:{position}:{hash}")
}

/// A signed checkpoint, as stored (and as `GET /chain` shows it): the link as hex, the
/// signature as base64.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct Checkpoint {
    #[sqlx(rename = "global_position")]
    pub position: i64,
    pub hash: String,
    pub signature: String,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub signed_at: DateTime<Utc>,
}

/// Why a key could not be read, made or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error("{path} is not an Ed25519 private key in PKCS#8 PEM: {reason}")]
    NotAKey { path: String, reason: String },
    #[error("cannot encode the signing key as PKCS#8 PEM: {0}")]
    Encode(String),
    #[error("cannot draw a key from the operating system's randomness: {0}")]
    Randomness(String),
    #[error("the public key must be the base64 of 32 bytes of an Ed25519 key")]
    NotAPublicKey,
}

/// The key that signs checkpoints.
#[derive(Clone)]
pub struct ChainSigner {
    key: SigningKey,
}

impl std::fmt::Debug for ChainSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("ChainSigner")
            .field("public_key", &self.public_key().to_base64())
            .finish()
    }
}

impl ChainSigner {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0_u8; 32];
        getrandom::fill(&mut seed).map_err(|error| KeyError::Randomness(error.to_string()))?;
        Ok(ChainSigner {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`); warns when others than its
    /// owner may read it.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = secret_file::read(path, WHAT)?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|error| KeyError::NotAKey {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        Ok(ChainSigner { key })
    }

    /// Writes the key as PKCS#8 PEM to a new file, readable by its owner only; never over an
    /// existing file (a lost key cannot be made again).
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let pem = self
            .key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|error| KeyError::Encode(error.to_string()))?;
        Ok(secret_file::write_new(path, pem.as_bytes(), WHAT)?)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs the chain's head: `link` at `position`.
    pub fn sign(&self, position: i64, link: &Link, signed_at: DateTime<Utc>) -> Checkpoint {
        let hash = link.to_hex();
        let signature = self.key.sign(message(position, &hash).as_bytes());
        Checkpoint {
            position,
            hash,
            signature: BASE64.encode(signature.to_bytes()),
            signed_at,
        }
    }
}

/// The key that checks checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The base64 of the raw 32 bytes, as `GET /chain` shows it.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_bytes())
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = BASE64.decode(text.trim()).map_err(|_| KeyError::NotAPublicKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::NotAPublicKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| KeyError::NotAPublicKey)
    }

    /// Whether `checkpoint`'s signature is this key's, over its position and hash (strictly:
    /// no malleable or small-order signatures).
    pub fn verifies(&self, checkpoint: &Checkpoint) -> bool {
        let Ok(bytes) = BASE64.decode(&checkpoint.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0
            .verify_strict(
                message(checkpoint.position, &checkpoint.hash).as_bytes(),
                &signature,
            )
            .is_ok()
    }
}

/// Stores a checkpoint; one already stored at its position (signed by another process) stays.
pub async fn record(database: &Database, checkpoint: &Checkpoint) -> Result<(), sqlx::Error> {
    database
        .execute_write(
            query(
                "INSERT INTO chain_checkpoints (global_position, hash, signature, signed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (global_position) DO NOTHING",
            )
            .bind(checkpoint.position)
            .bind(checkpoint.hash.as_str())
            .bind(checkpoint.signature.as_str())
            .bind(checkpoint.signed_at),
        )
        .await?;
    Ok(())
}

/// Up to `limit` checkpoints after position `after`, oldest first.
pub async fn page(database: &Database, after: i64, limit: i64) -> Result<Vec<Checkpoint>, sqlx::Error> {
    query(
        "SELECT global_position, hash, signature, signed_at FROM chain_checkpoints \
         WHERE global_position > $1 ORDER BY global_position LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(database)
    .await
}

/// The newest checkpoint.
pub async fn last(database: &Database) -> Result<Option<Checkpoint>, sqlx::Error> {
    query(
        "SELECT global_position, hash, signature, signed_at FROM chain_checkpoints \
         ORDER BY global_position DESC LIMIT 1",
    )
    .fetch_optional(database)
    .await
}

/// The chain's head as committed: the last linked event's position and link (`None` on an
/// empty log).
pub async fn linked_head(database: &Database) -> Result<Option<(i64, Link)>, sqlx::Error> {
    let last: Option<(i64, String)> = query(
        "SELECT global_position, hash FROM events WHERE hash IS NOT NULL \
         ORDER BY global_position DESC LIMIT 1",
    )
    .fetch_optional(database)
    .await?;
    last.map(|(position, hash)| Ok((position, Link::stored(position, &hash)?)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_the_position_and_the_hash() {
        let signer = ChainSigner::generate().expect("a key");
        let key = signer.public_key();
        let link = Link([7; 32]);
        let checkpoint = signer.sign(42, &link, Utc::now());
        assert!(key.verifies(&checkpoint));
        assert_eq!(PublicKey::from_base64(&key.to_base64()).ok(), Some(key));
        let moved = Checkpoint {
            position: 43,
            ..checkpoint.clone()
        };
        assert!(!key.verifies(&moved));
        let relinked = Checkpoint {
            hash: Link([8; 32]).to_hex(),
            ..checkpoint.clone()
        };
        assert!(!key.verifies(&relinked));
        let other = ChainSigner::generate().expect("a key").public_key();
        assert!(!other.verifies(&checkpoint));
        assert_eq!(
            message(42, &link.to_hex()),
            format!("foldbank-chain:v1:42:{}", "07".repeat(32))
        );
    }

    #[test]
    fn a_key_written_as_pkcs8_pem_reads_back() {
        let directory = tempfile::tempdir().expect("a directory");
        let path = directory.path().join("chain.pem");
        let signer = ChainSigner::generate().expect("a key");
        signer.write_new(&path).expect("written");
        let pem = std::fs::read_to_string(&path).expect("readable");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert_eq!(
            ChainSigner::read(&path).expect("read back").public_key(),
            signer.public_key()
        );
        assert!(matches!(
            signer.write_new(&path),
            Err(KeyError::File(SecretFileError::Write { .. }))
        ));
    }
}
