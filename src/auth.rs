//! API keys: who is calling, and what they may do.
//!
//! A key looks like `fbk_<id>_<secret>`: the `fbk_` prefix makes it recognisable in logs and
//! to secret scanners, the id (32 hex digits) finds its row, and the secret is 256 random bits.
//! A key is shown once, when it is created; the database keeps only a SHA-256 digest of the
//! whole key, compared in constant time. An unknown key and a revoked one take the same work to
//! refuse, so timing tells an attacker nothing about which ids exist.
//!
//! Two kinds of key:
//! - a **customer** key is bound to one owner: it sees and acts on that owner's accounts only
//!   (another owner's account answers exactly as a missing one does);
//! - an **operator** key sees every account and may use the operations endpoints.
//!
//! Keys are managed with `foldbank keys create|list|revoke`; a revoked key stops working at
//! once, in running servers too, because every request reads its key's row (one lookup by
//! primary key).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::db::{Database, Stored, query};
use crate::domain::ids::OwnerId;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "fbk_";

/// Who is calling, once their key checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No keys are in use (local development on the loopback address): everything is allowed.
    Developer,
    Customer {
        key_id: Uuid,
        owner_id: OwnerId,
    },
    Operator {
        key_id: Uuid,
    },
}

impl Caller {
    /// The owner whose accounts alone this caller may see; `None` for every account.
    pub fn owner(self) -> Option<OwnerId> {
        match self {
            Caller::Customer { owner_id, .. } => Some(owner_id),
            Caller::Developer | Caller::Operator { .. } => None,
        }
    }

    /// The key that made the request, recorded in the metadata of the events it causes.
    pub fn key_id(self) -> Option<Uuid> {
        match self {
            Caller::Customer { key_id, .. } | Caller::Operator { key_id } => Some(key_id),
            Caller::Developer => None,
        }
    }

    /// Whether this caller may use the operations endpoints.
    pub fn is_operator(self) -> bool {
        matches!(self, Caller::Developer | Caller::Operator { .. })
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Customer(OwnerId),
    Operator,
}

/// What a key is, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum KeyKind {
    Customer,
    Operator,
}

crate::stored_as_text!(KeyKind);

/// Why a request's key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the request has no API key (Authorization: Bearer fbk_...)")]
    Missing,
    #[error("the Authorization header does not hold an API key of this service")]
    Malformed,
    /// Unknown and revoked keys are one answer: which ids exist is not the caller's business.
    #[error("the API key is unknown or revoked")]
    Refused,
    #[error("could not check the API key")]
    Database(#[from] sqlx::Error),
}

/// A key as `foldbank keys list` shows it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRecord {
    #[sqlx(try_from = "Stored<Uuid>")]
    pub key_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: KeyKind,
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    pub owner_id: Option<Uuid>,
    pub label: Option<String>,
    pub secret_hash: String,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret is known.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key_id: Uuid,
    /// The whole key, `fbk_<id>_<secret>`: give it to its user now; it cannot be shown again.
    pub key: String,
}

const COLUMNS: &str = "key_id, kind, owner_id, label, secret_hash, created_at, revoked_at";

/// The keys of a database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyStore {
    database: Database,
}

impl KeyStore {
    pub fn new(database: Database) -> Self {
        KeyStore { database }
    }

    pub async fn create(
        &self,
        role: Role,
        label: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CreatedKey, sqlx::Error> {
        let key_id = Uuid::now_v7();
        let mut secret = [0_u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|error| sqlx::Error::Protocol(format!("no randomness: {error}")))?;
        let key = format!("{KEY_PREFIX}{}_{}", key_id.simple(), hex::encode(secret));
        let (kind, owner_id) = match role {
            Role::Customer(owner) => (KeyKind::Customer, Some(owner.as_uuid())),
            Role::Operator => (KeyKind::Operator, None),
        };
        self.database
            .execute_write(
                query(format!(
                    "INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
                ))
                .bind(key_id)
                .bind(kind.as_str())
                .bind(owner_id)
                .bind(label)
                .bind(digest(&key))
                .bind(now),
            )
            .await?;
        Ok(CreatedKey { key_id, key })
    }

    pub async fn list(&self) -> Result<Vec<KeyRecord>, sqlx::Error> {
        query(format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, key_id"
        ))
        .fetch_all(&self.database)
        .await
    }

    /// Revokes a key; answers whether there was an active one with this id.
    pub async fn revoke(&self, key_id: Uuid, now: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let revoked = self
            .database
            .execute_write(
                query("UPDATE api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL")
                    .bind(key_id)
                    .bind(now),
            )
            .await?;
        Ok(revoked > 0)
    }

    /// Whether any key may be used: without one, a loopback-only service runs open for
    /// local development.
    pub async fn any_active(&self) -> Result<bool, sqlx::Error> {
        let active: Option<i64> =
            query("SELECT CAST(1 AS BIGINT) FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
                .fetch_optional_scalar(&self.database)
                .await?;
        Ok(active.is_some())
    }

    /// Whether key `key_id` exists and is not revoked: what a long-lived response (an event
    /// stream) asks again while it runs.
    pub async fn is_live(&self, key_id: Uuid) -> Result<bool, sqlx::Error> {
        let live: Option<i64> =
            query("SELECT CAST(1 AS BIGINT) FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL")
                .bind(key_id)
                .fetch_optional_scalar(&self.database)
                .await?;
        Ok(live.is_some())
    }

    /// The caller a presented key names, if it is a live key of this service.
    pub async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        let key_id = parse(presented).ok_or(AuthError::Malformed)?;
        let record: Option<KeyRecord> = query(format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"))
            .bind(key_id)
            .fetch_optional(&self.database)
            .await?;
        // The same work whether the row exists or not: hash, compare in constant time.
        let presented_digest = digest(presented);
        let stored_digest = record.as_ref().map_or_else(
            || "0".repeat(presented_digest.len()),
            |record| record.secret_hash.clone(),
        );
        let matches: bool = presented_digest.as_bytes().ct_eq(stored_digest.as_bytes()).into();
        match record {
            Some(record) if matches && record.revoked_at.is_none() => match (record.kind, record.owner_id) {
                (KeyKind::Customer, Some(owner)) => Ok(Caller::Customer {
                    key_id,
                    owner_id: OwnerId(owner),
                }),
                (KeyKind::Operator, _) => Ok(Caller::Operator { key_id }),
                (KeyKind::Customer, None) => Err(AuthError::Refused),
            },
            _ => Err(AuthError::Refused),
        }
    }
}

/// The id inside a well-formed key: `fbk_` + 32 hex digits + `_` + 64 hex digits.
fn parse(key: &str) -> Option<Uuid> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 32 || secret.len() != 64 || !secret.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::try_parse(id).ok()
}

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_keys_name_a_key_id() {
        let id = Uuid::now_v7();
        let secret = "ab".repeat(32);
        assert_eq!(parse(&format!("fbk_{}_{secret}", id.simple())), Some(id));
        assert_eq!(parse(&format!("fbk_{}_{}", id.simple(), &secret[1..])), None);
        assert_eq!(parse(&format!("xyz_{}_{secret}", id.simple())), None);
        assert_eq!(parse(&format!("fbk_{}_{}", id.simple(), "zz".repeat(32))), None);
        assert_eq!(parse("fbk_"), None);
    }

    #[test]
    fn a_digest_is_sha256_in_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
