//! The owners' data keys, as the database keeps them (`owner_keys`): made on first use,
//! unwrapped with the master key when needed, and erased for good.
//!
//! Two uses, two rules:
//! - **sealing** (a command carries personal text): the owner's key, made and stored on first
//!   use. Keys are cached for [`SEALING_KEY_TTL`]: a key erased by another process meanwhile
//!   only seals a little more text that nobody can open;
//! - **opening** (a response shows personal text): the keys are read from the database for
//!   every response, never from a cache, so an erasure by any process holds at once for every
//!   process's next answer.
//!
//! An erased owner keeps a tombstone row: no key is ever made for them again, so nothing typed
//! after the erasure can be read either.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{DataKey, MasterKey, MasterKeyError, MasterKeys, SealError};
use crate::db::{Backend, Database, Stored, query};

/// How long this process seals with a key it read before reading it again.
pub const SEALING_KEY_TTL: Duration = Duration::from_secs(60);

/// How many owners' keys this process keeps for sealing.
const SEALING_KEY_CAPACITY: u64 = 100_000;

/// At most this many owners are read by one statement when opening.
const OWNERS_PER_READ: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The owner's personal data was erased: nothing new of theirs may be sealed.
    #[error("the personal data of owner {0} was erased")]
    Erased(Uuid),
    /// The stored key was wrapped by a master key this service was not given.
    #[error(
        "the data key of owner {owner} was wrapped by master key {stored}, and this service has {configured}: \
         start it with the master key file the database's keys were made with"
    )]
    UnknownMasterKey {
        owner: Uuid,
        stored: String,
        configured: String,
    },
    #[error("the new and the previous master key are the same key ({0}): nothing to rotate")]
    SameMasterKey(String),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("could not read or write the owners' keys")]
    Database(#[from] sqlx::Error),
}

/// What opening a personal field of an owner can use.
#[derive(Debug, Clone)]
pub enum OwnerKey {
    Key(Box<DataKey>),
    /// Erased: the owner's fields read as `null`.
    Erased,
    /// Stored, but this service cannot unwrap it (another master key, or altered): logged at
    /// ERROR, and the owner's fields read as `null` rather than failing the whole answer.
    Unavailable,
}

/// An owner's row of `owner_keys`.
#[derive(Debug, sqlx::FromRow)]
struct KeyRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    owner_id: Uuid,
    wrapped_key: Option<String>,
    master_key_id: Option<String>,
}

/// How an erasure went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    /// When the owner's data was erased: now, or at an earlier erasure.
    pub erased_at: DateTime<Utc>,
    /// Whether it was erased before this request.
    pub already: bool,
}

/// The owners' data keys in one database, under one master key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Keyring {
    database: Database,
    /// The master key, and during a rotation the one being retired, which still unwraps the
    /// keys it wrapped until `foldbank master-key rotate` has re-wrapped them all.
    keys: MasterKeys,
    sealing: moka::sync::Cache<Uuid, DataKey>,
}

impl Keyring {
    pub fn new(database: Database, master: MasterKey) -> Self {
        Keyring {
            database,
            keys: MasterKeys::new(Arc::new(master), None),
            sealing: moka::sync::Cache::builder()
                .max_capacity(SEALING_KEY_CAPACITY)
                .time_to_live(SEALING_KEY_TTL)
                .build(),
        }
    }

    /// The master keys this keyring holds, for what else they wrap (the webhooks' secrets).
    pub fn master_keys(&self) -> MasterKeys {
        self.keys.clone()
    }

    /// Also unwraps the keys that `previous` wrapped (while a rotation away from it runs).
    pub fn with_previous(mut self, previous: Option<MasterKey>) -> Self {
        self.keys = self.keys.with_previous(previous.map(Arc::new));
        self
    }

    /// The key that seals `owner`'s personal text: theirs if they have one, else a new one,
    /// stored before it is used (of two processes making one at once, both use the one stored
    /// first).
    pub async fn sealing_key(&self, owner: Uuid, now: DateTime<Utc>) -> Result<DataKey, KeyringError> {
        if let Some(key) = self.sealing.get(&owner) {
            return Ok(key);
        }
        let row = match self.read(&[owner]).await?.pop() {
            Some(row) => row,
            None => {
                let key = DataKey::generate(owner)?;
                self.database
                    .execute_write(
                        query(
                            "INSERT INTO owner_keys (owner_id, wrapped_key, master_key_id, created_at) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (owner_id) DO NOTHING",
                        )
                        .bind(owner)
                        .bind(self.keys.current().wrap_data_key(&key)?)
                        .bind(self.keys.current().id().to_owned())
                        .bind(now),
                    )
                    .await?;
                // Read back: another process may have stored its key first, or erased the owner.
                self.read(&[owner])
                    .await?
                    .pop()
                    .ok_or_else(|| sqlx::Error::RowNotFound)?
            }
        };
        match self.unwrap(row)? {
            Some(key) => {
                self.sealing.insert(owner, key.clone());
                Ok(key)
            }
            None => Err(KeyringError::Erased(owner)),
        }
    }

    /// The keys that open the personal fields of `owners`, read now. An owner without a row
    /// has no sealed field in this database, and is left out.
    pub async fn opening_keys(
        &self,
        owners: &BTreeSet<Uuid>,
    ) -> Result<HashMap<Uuid, OwnerKey>, KeyringError> {
        let owners: Vec<Uuid> = owners.iter().copied().collect();
        let mut keys = HashMap::with_capacity(owners.len());
        for chunk in owners.chunks(OWNERS_PER_READ) {
            for row in self.read(chunk).await? {
                let owner = row.owner_id;
                let key = match self.unwrap(row) {
                    Ok(Some(key)) => OwnerKey::Key(Box::new(key)),
                    Ok(None) => OwnerKey::Erased,
                    Err(error) => {
                        tracing::error!(%owner, error = %crate::telemetry::error_chain(&error), "an owner's data key cannot be unwrapped");
                        OwnerKey::Unavailable
                    }
                };
                keys.insert(owner, key);
            }
        }
        Ok(keys)
    }

    /// Erases `owner`'s data key (see [`erase`]), and forgets it here at once.
    pub async fn erase(&self, owner: Uuid, now: DateTime<Utc>) -> Result<Erasure, KeyringError> {
        let erasure = erase(&self.database, owner, now).await?;
        self.sealing.invalidate(&owner);
        Ok(erasure)
    }

    async fn read(&self, owners: &[Uuid]) -> Result<Vec<KeyRow>, sqlx::Error> {
        let placeholders: Vec<String> = (1..=owners.len()).map(|at| format!("${at}")).collect();
        let mut statement = query(format!(
            "SELECT owner_id, wrapped_key, master_key_id FROM owner_keys WHERE owner_id IN ({})",
            placeholders.join(", ")
        ));
        for owner in owners {
            statement = statement.bind(*owner);
        }
        statement.fetch_all(&self.database).await
    }

    /// The data key of `row`, or `None` for an erased owner.
    fn unwrap(&self, row: KeyRow) -> Result<Option<DataKey>, KeyringError> {
        let (Some(wrapped), Some(master_key_id)) = (row.wrapped_key, row.master_key_id) else {
            return Ok(None);
        };
        let master = self
            .keys
            .find(&master_key_id)
            .ok_or_else(|| KeyringError::UnknownMasterKey {
                owner: row.owner_id,
                stored: master_key_id.clone(),
                configured: self.keys.current().id().to_owned(),
            })?;
        Ok(Some(master.unwrap_data_key(row.owner_id, &wrapped)?))
    }
}

/// Erases `owner`'s data key, leaving a tombstone: every field sealed for them can no longer be
/// opened, and none will be sealed again. Erasing twice is the first erasure. Needs no master
/// key: `foldbank owners erase` runs it as it is.
pub async fn erase(database: &Database, owner: Uuid, now: DateTime<Utc>) -> Result<Erasure, sqlx::Error> {
    let mut tx = database.begin_write().await?;
    let before: Option<Stored<Option<DateTime<Utc>>>> = query(format!(
        "SELECT erased_at FROM owner_keys WHERE owner_id = $1{}",
        tx.for_update()
    ))
    .bind(owner)
    .fetch_optional_scalar(&mut tx)
    .await?;
    if let Some(Stored(Some(erased_at))) = before {
        return Ok(Erasure {
            erased_at,
            already: true,
        });
    }
    // An upsert: of two erasures of an owner without a row, the second meets the first's.
    let erased_at: Stored<DateTime<Utc>> = query(
        "INSERT INTO owner_keys (owner_id, wrapped_key, master_key_id, created_at, erased_at) \
         VALUES ($1, NULL, NULL, $2, $2) \
         ON CONFLICT (owner_id) DO UPDATE SET wrapped_key = NULL, master_key_id = NULL, \
             erased_at = COALESCE(owner_keys.erased_at, excluded.erased_at) \
         RETURNING erased_at",
    )
    .bind(owner)
    .bind(now)
    .fetch_scalar(&mut tx)
    .await?;
    tx.commit().await?;
    scrub(database).await;
    Ok(Erasure {
        erased_at: erased_at.0,
        already: false,
    })
}

/// Lets the database drop an erased key's old bytes sooner. SQLite overwrites deleted content
/// in place (`secure_delete`, see [`crate::db`]), but its write-ahead log holds the page as it
/// was until a checkpoint truncates it; PostgreSQL keeps the old row version until a vacuum.
/// Best effort: an erasure stands without it, since a wrapped key is of no use without the
/// master key.
async fn scrub(database: &Database) {
    let scrubbed = match database.backend() {
        // One row: whether readers kept the log from being truncated (1), and its frames.
        Backend::Sqlite => query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_scalar::<i64>(database)
            .await
            .map(|busy| busy == 0),
        Backend::Postgres => query("VACUUM owner_keys").execute(database).await.map(|_| true),
    };
    match scrubbed {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("readers kept the write-ahead log from being truncated; the erasure stands")
        }
        Err(error) => {
            tracing::warn!(%error, "could not scrub the erased key's old bytes; the erasure stands")
        }
    }
}

/// How many keys one round of a rotation re-wraps.
const REWRAP_BATCH: i64 = 500;

/// Re-wraps every data key that `from` wrapped under `to`, in rounds of `REWRAP_BATCH`; answers
/// how many. Events and every sealed field stay as they are: only the wrapping changes. Each
/// key is re-wrapped only if it is still `from`'s when written (an erasure meanwhile wins), so
/// two rotations at once, or one run again after an interruption, do no harm.
pub async fn rewrap(database: &Database, from: &MasterKey, to: &MasterKey) -> Result<u64, KeyringError> {
    if from.id() == to.id() {
        return Err(KeyringError::SameMasterKey(to.id().to_owned()));
    }
    let mut rewrapped = 0;
    loop {
        let rows: Vec<KeyRow> = query(
            "SELECT owner_id, wrapped_key, master_key_id FROM owner_keys \
             WHERE master_key_id = $1 ORDER BY owner_id LIMIT $2",
        )
        .bind(from.id().to_owned())
        .bind(REWRAP_BATCH)
        .fetch_all(database)
        .await?;
        if rows.is_empty() {
            return Ok(rewrapped);
        }
        let mut tx = database.begin_write().await?;
        for row in rows {
            let Some(wrapped) = row.wrapped_key else { continue };
            let key = from.unwrap_data_key(row.owner_id, &wrapped)?;
            rewrapped += query(
                "UPDATE owner_keys SET wrapped_key = $2, master_key_id = $3 \
                 WHERE owner_id = $1 AND master_key_id = $4",
            )
            .bind(row.owner_id)
            .bind(to.wrap_data_key(&key)?)
            .bind(to.id().to_owned())
            .bind(from.id().to_owned())
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
    }
}
