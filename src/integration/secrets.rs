//! A subscription's signing secret at rest: wrapped by the master key
//! ([`MasterKey::wrap_webhook_secret`]), the master key's id stored beside it
//! (`webhook_subscriptions.secret_master_key_id`).
//!
//! An HMAC needs its key in the clear when it signs, so the secret cannot be stored as a digest
//! the way an API key is; sealed under the master key, which lives outside the database, a copy
//! of the database alone (a backup, a stolen disk) signs nothing. Rows written before secrets
//! were sealed hold the secret as shown (`secret_master_key_id` NULL): [`seal_plain`] seals
//! them when the service starts, and [`rewrap`] moves them with the owners' data keys when the
//! master key is rotated.

use uuid::Uuid;

use crate::db::{Database, Stored, query};
use crate::integration::signing::{SecretError, WebhookSecret};
use crate::privacy::{MasterKey, MasterKeyError, MasterKeys};

/// A secret as its row stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    /// Wrapped by the master key `master_key_id`; the secret as shown when that is `None`.
    pub secret: String,
    pub master_key_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoredSecretError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(
        "the signing secret of webhook {webhook_id} was wrapped by master key {stored}, which this service does not hold"
    )]
    UnknownMasterKey { webhook_id: Uuid, stored: String },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl StoredSecret {
    /// `secret`, wrapped for webhook `webhook_id` by the current master key.
    pub fn seal(
        keys: &MasterKeys,
        webhook_id: Uuid,
        secret: &WebhookSecret,
    ) -> Result<Self, StoredSecretError> {
        let master = keys.current();
        Ok(StoredSecret {
            secret: master.wrap_webhook_secret(webhook_id, &secret.expose())?,
            master_key_id: Some(master.id().to_owned()),
        })
    }

    /// The secret of webhook `webhook_id`.
    pub fn open(&self, keys: &MasterKeys, webhook_id: Uuid) -> Result<WebhookSecret, StoredSecretError> {
        let Some(id) = &self.master_key_id else {
            return Ok(WebhookSecret::parse(&self.secret)?);
        };
        let master = keys.find(id).ok_or_else(|| StoredSecretError::UnknownMasterKey {
            webhook_id,
            stored: id.clone(),
        })?;
        Ok(WebhookSecret::parse(
            &master.unwrap_webhook_secret(webhook_id, &self.secret)?,
        )?)
    }
}

#[derive(Debug, sqlx::FromRow)]
struct SecretRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    webhook_id: Uuid,
    secret: String,
}

/// Seals every secret still stored as shown, under the current master key; answers how many.
/// Each is sealed only if it is still plain when written, so two processes starting at once do
/// no harm.
pub async fn seal_plain(database: &Database, keys: &MasterKeys) -> Result<u64, StoredSecretError> {
    let rows: Vec<SecretRow> = query(
        "SELECT webhook_id, secret FROM webhook_subscriptions \
         WHERE secret_master_key_id IS NULL",
    )
    .fetch_all(database)
    .await?;
    let mut sealed = 0;
    for row in rows {
        // A row edited by hand into something else stays as it is: its deliveries fail, and
        // say why, rather than the service refusing to start.
        let Ok(secret) = WebhookSecret::parse(&row.secret) else {
            tracing::warn!(webhook_id = %row.webhook_id, "a webhook's stored secret is not a secret; left as it is");
            continue;
        };
        let stored = StoredSecret::seal(keys, row.webhook_id, &secret)?;
        sealed += write(database, row.webhook_id, &stored, &row.secret).await?;
    }
    Ok(sealed)
}

/// Re-wraps every secret that `from` wrapped under `to`; answers how many. Each only if it is
/// still `from`'s when written, so a rotation run again after an interruption does no harm.
pub async fn rewrap(database: &Database, from: &MasterKey, to: &MasterKey) -> Result<u64, StoredSecretError> {
    let rows: Vec<SecretRow> = query(
        "SELECT webhook_id, secret FROM webhook_subscriptions \
         WHERE secret_master_key_id = $1",
    )
    .bind(from.id().to_owned())
    .fetch_all(database)
    .await?;
    let mut rewrapped = 0;
    for row in rows {
        let secret = from.unwrap_webhook_secret(row.webhook_id, &row.secret)?;
        let stored = StoredSecret {
            secret: to.wrap_webhook_secret(row.webhook_id, &secret)?,
            master_key_id: Some(to.id().to_owned()),
        };
        rewrapped += write(database, row.webhook_id, &stored, &row.secret).await?;
    }
    Ok(rewrapped)
}

/// Stores `stored` as webhook `webhook_id`'s secret if its row still holds `was`.
async fn write(
    database: &Database,
    webhook_id: Uuid,
    stored: &StoredSecret,
    was: &str,
) -> Result<u64, sqlx::Error> {
    database
        .execute_write(
            query(
                "UPDATE webhook_subscriptions SET secret = $2, secret_master_key_id = $3 \
                 WHERE webhook_id = $1 AND secret = $4",
            )
            .bind(webhook_id)
            .bind(stored.secret.as_str())
            .bind(stored.master_key_id.as_deref())
            .bind(was),
        )
        .await
}
