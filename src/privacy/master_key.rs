//! The master key: kept in a file outside the database, it wraps every owner's data key for
//! storage, so that a copy of the database alone (a stolen disk, a backup) opens no personal
//! field.
//!
//! The file holds one line, `foldbank-master-key:v1:{base64 of 32 bytes}`, readable by its
//! owner only ([`MasterKey::write_new`]). A data key is
//! wrapped with AES-256-GCM under a random nonce, with the owner's id as associated data: a
//! wrapped key copied onto another owner's row does not unwrap. Each wrapped key is stored with
//! its master key's [`MasterKey::id`], so that a rotation knows which rows it has re-wrapped and
//! a service started with the wrong file says so at once rather than reading `erased` everywhere.
//!
//! It seals the webhooks' signing secrets the same way ([`MasterKey::wrap_webhook_secret`]),
//! with the subscription's id as associated data: an HMAC needs its key in the clear at signing
//! time, so the secret cannot be hashed like an API key, but a copy of the database alone does
//! not hold it.
//!
//! No database here: what stores the wrapped keys is the caller's business.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::seal::DataKey;
use crate::secret_file::{self, SecretFileError};

const FILE_PREFIX: &str = "foldbank-master-key:v1:";
const WHAT: &str = "master key";
const NONCE_LEN: usize = 12;

/// Why a master key could not be made, read, or could not unwrap a data key.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(transparent)]
    File(#[from] SecretFileError),
    #[error("{path} is not a foldbank master key (one line: {FILE_PREFIX}<base64 of 32 bytes>)")]
    NotAMasterKey { path: String },
    #[error("cannot draw a key from the operating system's randomness: {0}")]
    NoRandomness(String),
    /// The stored key of `owner` was wrapped by another master key, or altered.
    #[error("the data key of owner {owner} does not unwrap with master key {master_key}")]
    DoesNotUnwrap { owner: Uuid, master_key: String },
    /// The stored signing secret of webhook `webhook_id` was wrapped by another master key,
    /// or altered.
    #[error("the signing secret of webhook {webhook_id} does not unwrap with master key {master_key}")]
    SecretDoesNotUnwrap { webhook_id: Uuid, master_key: String },
}

/// The key that wraps the data keys.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    cipher: Aes256Gcm,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| MasterKeyError::NoRandomness(error.to_string()))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"foldbank-master-key-id:v1:")
            .chain_update(bytes)
            .finalize();
        MasterKey {
            bytes,
            cipher: Aes256Gcm::new(&bytes.into()),
            id: hex::encode(&digest[..8]),
        }
    }

    /// Reads a key file; warns when others than its owner may read it.
    pub fn read(path: &Path) -> Result<Self, MasterKeyError> {
        let text = secret_file::read(path, WHAT)?;
        let not_a_key = || MasterKeyError::NotAMasterKey {
            path: path.display().to_string(),
        };
        let encoded = text.trim().strip_prefix(FILE_PREFIX).ok_or_else(not_a_key)?;
        let bytes = BASE64.decode(encoded).map_err(|_| not_a_key())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| not_a_key())?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Writes the key to a new file, readable by its owner only; never over an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), MasterKeyError> {
        let line = format!("{FILE_PREFIX}{}\n", BASE64.encode(self.bytes));
        Ok(secret_file::write_new(path, line.as_bytes(), WHAT)?)
    }

    /// A short public name of the key (16 hex digits of a hash of it): stored beside each data
    /// key it wraps, and safe to log.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `key` wrapped for storage (base64 of nonce, ciphertext, tag), for its owner only.
    pub fn wrap_data_key(&self, key: &DataKey) -> Result<String, MasterKeyError> {
        self.wrap(&associated_data(key.owner()), key.as_bytes())
    }

    /// A webhook's signing secret wrapped for storage, for that subscription only.
    pub fn wrap_webhook_secret(&self, webhook_id: Uuid, secret: &str) -> Result<String, MasterKeyError> {
        self.wrap(&webhook_associated_data(webhook_id), secret.as_bytes())
    }

    /// The signing secret of webhook `webhook_id` that `wrapped` holds, if this master key
    /// wrapped it for that subscription.
    pub fn unwrap_webhook_secret(&self, webhook_id: Uuid, wrapped: &str) -> Result<String, MasterKeyError> {
        self.unwrap(&webhook_associated_data(webhook_id), wrapped)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| MasterKeyError::SecretDoesNotUnwrap {
                webhook_id,
                master_key: self.id.clone(),
            })
    }

    /// `plaintext` sealed with AES-256-GCM under a random nonce: base64 of nonce, ciphertext and
    /// tag.
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<String, MasterKeyError> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|error| MasterKeyError::NoRandomness(error.to_string()))?;
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&ciphertext);
        Ok(BASE64.encode(wrapped))
    }

    /// What [`wrap`](Self::wrap) sealed with `aad`; `None` for anything else.
    fn unwrap(&self, aad: &[u8], wrapped: &str) -> Option<Vec<u8>> {
        let bytes = BASE64.decode(wrapped).ok()?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_LEN)?;
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .ok()
    }

    /// The data key of `owner` that `wrapped` holds, if this master key wrapped it for them.
    pub fn unwrap_data_key(&self, owner: Uuid, wrapped: &str) -> Result<DataKey, MasterKeyError> {
        let key: [u8; 32] = self
            .unwrap(&associated_data(owner), wrapped)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| MasterKeyError::DoesNotUnwrap {
                owner,
                master_key: self.id.clone(),
            })?;
        Ok(DataKey::from_bytes(owner, key))
    }
}

/// The associated data of a wrapped data key: it unwraps for its owner only.
fn associated_data(owner: Uuid) -> Vec<u8> {
    let mut aad = b"foldbank-data-key:v1:".to_vec();
    aad.extend_from_slice(owner.as_bytes());
    aad
}

/// The associated data of a wrapped webhook secret: it unwraps for its subscription only.
fn webhook_associated_data(webhook_id: Uuid) -> Vec<u8> {
    let mut aad = b"foldbank-webhook-secret:v1:".to_vec();
    aad.extend_from_slice(webhook_id.as_bytes());
    aad
}

/// The master key, and during a rotation the one being retired: what unwraps what either
/// wrapped, by the id stored beside it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MasterKeys {
    current: Arc<MasterKey>,
    previous: Option<Arc<MasterKey>>,
}

impl MasterKeys {
    pub fn new(current: Arc<MasterKey>, previous: Option<Arc<MasterKey>>) -> Self {
        MasterKeys { current, previous }
    }

    /// These, with `previous` as the key being retired.
    pub fn with_previous(self, previous: Option<Arc<MasterKey>>) -> Self {
        MasterKeys { previous, ..self }
    }

    /// The key that wraps from now on.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The key whose id is `id`, if it is one of these.
    pub fn find(&self, id: &str) -> Option<&MasterKey> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id() == id)
            .map(Arc::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_data_key_unwraps_for_its_owner_under_its_master_key_only() {
        let master = MasterKey::generate().expect("a master key");
        let (owner, someone_else) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let key = DataKey::generate(owner).expect("a data key");
        let wrapped = master.wrap_data_key(&key).expect("wrapped");
        // A random nonce each time: the same key wraps to another text.
        assert_ne!(master.wrap_data_key(&key).expect("wrapped"), wrapped);

        let unwrapped = master.unwrap_data_key(owner, &wrapped).expect("unwraps");
        assert_eq!(unwrapped.owner(), owner);
        assert_eq!(unwrapped.open(&key.seal("a name")).expect("opens"), "a name");

        assert!(matches!(
            master.unwrap_data_key(someone_else, &wrapped),
            Err(MasterKeyError::DoesNotUnwrap { .. })
        ));
        let other = MasterKey::generate().expect("another master key");
        let error = other
            .unwrap_data_key(owner, &wrapped)
            .expect_err("another master key");
        assert!(error.to_string().contains(other.id()), "{error}");
        let mut altered = BASE64.decode(&wrapped).expect("base64");
        altered[NONCE_LEN] ^= 1;
        for wrong in [
            BASE64.encode(altered),
            "not base64!".to_owned(),
            BASE64.encode([0_u8; NONCE_LEN - 1]),
            BASE64.encode([0_u8; NONCE_LEN]),
        ] {
            assert!(master.unwrap_data_key(owner, &wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn a_wrapped_webhook_secret_opens_for_its_subscription_under_its_master_key_only() {
        let master = MasterKey::generate().expect("a master key");
        let (webhook, another) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let wrapped = master.wrap_webhook_secret(webhook, secret).expect("wrapped");
        assert!(!wrapped.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{wrapped}");
        assert_eq!(
            master.unwrap_webhook_secret(webhook, &wrapped).expect("opens"),
            secret
        );
        assert!(master.unwrap_webhook_secret(another, &wrapped).is_err());
        let other = MasterKey::generate().expect("another master key");
        assert!(other.unwrap_webhook_secret(webhook, &wrapped).is_err());
        // Nor does a data key's wrapping pass for a secret's, or the reverse.
        let key = DataKey::generate(webhook).expect("a data key");
        assert!(
            master
                .unwrap_webhook_secret(webhook, &master.wrap_data_key(&key).expect("wrapped"))
                .is_err()
        );
        assert!(master.unwrap_data_key(webhook, &wrapped).is_err());
    }

    /// The values were computed apart from this code, with Python's `cryptography` (SHA-256,
    /// AES-GCM), from the construction the module's documentation gives: a change to the id's
    /// label or the associated data would orphan every stored key.
    #[test]
    fn a_master_keys_id_and_wrapping_are_pinned_to_v1() {
        let master = MasterKey::from_bytes([7; 32]);
        assert_eq!(master.id(), "b82f4070e72aa996");
        // Nonce [1; 12], data key [9; 32], owner 1.
        let wrapped = "AQEBAQEBAQEBAQEBf+iAvpm25QfY3dUoeT55OKHyHf0RnjIaUThKa2+9P7JBIf2N45R7IsQxDTYVwsHv";
        let key = master
            .unwrap_data_key(Uuid::from_u128(1), wrapped)
            .expect("unwraps");
        assert_eq!(key.as_bytes(), &[9; 32]);
    }

    #[test]
    fn a_master_key_file_reads_back_to_the_same_key_and_refuses_anything_else() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("master.key");
        let master = MasterKey::generate().expect("a master key");
        master.write_new(&path).expect("written");
        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.starts_with(FILE_PREFIX) && text.ends_with('\n'), "{text}");

        let read = MasterKey::read(&path).expect("reads back");
        assert_eq!(read.id(), master.id());
        assert_eq!(read.id().len(), 16);
        let key = DataKey::generate(Uuid::from_u128(1)).expect("a data key");
        let wrapped = master.wrap_data_key(&key).expect("wrapped");
        assert!(read.unwrap_data_key(Uuid::from_u128(1), &wrapped).is_ok());
        assert!(matches!(master.write_new(&path), Err(MasterKeyError::File(_))));

        // Written by hand, with a Windows line end: the same key.
        let by_hand = dir.path().join("by-hand.key");
        std::fs::write(&by_hand, text.replace('\n', "\r\n")).expect("written");
        assert_eq!(MasterKey::read(&by_hand).expect("reads").id(), master.id());

        for (name, text) in [
            ("empty", String::new()),
            ("short", format!("{FILE_PREFIX}{}", BASE64.encode([1_u8; 31]))),
            ("unprefixed", BASE64.encode([1_u8; 32])),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("written");
            assert!(
                matches!(MasterKey::read(&path), Err(MasterKeyError::NotAMasterKey { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn a_master_key_shows_only_its_id() {
        let master = MasterKey::generate().expect("a master key");
        assert_eq!(
            format!("{master:?}"),
            format!("MasterKey {{ id: {:?} }}", master.id())
        );
    }
}
