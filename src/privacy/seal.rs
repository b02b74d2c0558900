//! Data keys, and the sealed form of a personal field.
//!
//! A field is sealed with AES-256-GCM under its owner's [`DataKey`], with the owner's id as
//! associated data (a sealed text copied under another owner does not open), and written as
//! `pd1:{owner}:{base64url of nonce, ciphertext and tag}`: the owner's id is in the clear so that
//! whoever reads a sealed field knows whose key opens it.
//!
//! **Sealing is deterministic**: the nonce is not drawn at random but derived from the text
//! (an HMAC-SHA-256 of the owner and the text under a key of its own, cut to 96 bits: the
//! synthetic-IV construction of RFC 5297 over AES-GCM). The same owner's same text always seals
//! to the same string, so a read model rebuilt from the log gets identical rows, and a command
//! sent again with the same sealed terms compares equal to the first. What that reveals is only
//! that two of one owner's fields hold the same text. Two different texts get the same nonce
//! with a chance of about one in 2^48 after 2^24 fields of one owner.

use std::fmt;
use std::str::FromStr;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What a sealed field begins with: the format's version.
const PREFIX: &str = "pd1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a sealed field could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed personal field (pd1:<owner>:<base64url>)")]
    NotSealed,
    /// Another key's (or another owner's) field, or an altered one.
    #[error("the sealed field does not open with its owner's key: altered, or sealed with another key")]
    DoesNotOpen,
}

/// One owner's key of their personal data: 32 random bytes, from which the cipher's key and the
/// key that derives each field's nonce are drawn apart (so neither is used for two jobs).
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; 32],
    cipher: Aes256Gcm,
    nonce_key: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(DataKey::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let cipher_key = subkey(&bytes, b"foldbank-pd:v1:cipher");
        DataKey {
            bytes,
            cipher: Aes256Gcm::new(&cipher_key.into()),
            nonce_key: subkey(&bytes, b"foldbank-pd:v1:nonce"),
        }
    }

    /// The key's own 32 bytes: what a master key wraps.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// `text` of `owner`, sealed (the same text always seals to the same field).
    pub fn seal(&self, owner: Uuid, text: &str) -> Sealed {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.nonce_key).expect("HMAC takes a key of any length");
        mac.update(owner.as_bytes());
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        let nonce = Nonce::from_slice(&digest[..NONCE_LEN]);
        let aad = associated_data(owner);
        let ciphertext = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: text.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM seals any text shorter than 64 GiB");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed { owner, bytes }
    }

    /// The text `sealed` holds, if this is its owner's key and it was not altered.
    pub fn open(&self, sealed: &Sealed) -> Result<String, SealError> {
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let aad = associated_data(sealed.owner);
        let text = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(text).map_err(|_| SealError::DoesNotOpen)
    }
}

/// The associated data of an owner's sealed fields: the field opens for that owner only.
fn associated_data(owner: Uuid) -> Vec<u8> {
    let mut aad = b"foldbank-pd:v1:".to_vec();
    aad.extend_from_slice(owner.as_bytes());
    aad
}

/// HMAC-SHA-256 of `label` under `key`: a key for one job, drawn from the data key.
fn subkey(key: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// A sealed personal field: whose it is, and the nonce, ciphertext and tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sealed {
    owner: Uuid,
    bytes: Vec<u8>,
}

impl Sealed {
    /// The owner whose key opens it.
    pub fn owner(&self) -> Uuid {
        self.owner
    }
}

impl fmt::Display for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}:{}:{}", self.owner, BASE64URL.encode(&self.bytes))
    }
}

impl FromStr for Sealed {
    type Err = SealError;

    fn from_str(text: &str) -> Result<Self, SealError> {
        let mut parts = text.splitn(3, ':');
        let (Some(PREFIX), Some(owner), Some(sealed)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::NotSealed);
        };
        let owner = Uuid::try_parse(owner).map_err(|_| SealError::NotSealed)?;
        let bytes = BASE64URL.decode(sealed).map_err(|_| SealError::NotSealed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::NotSealed);
        }
        Ok(Sealed { owner, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_sealed_text_opens_with_its_owners_key_and_reads_back_from_its_string() {
        let key = DataKey::generate().expect("a key");
        let sealed = key.seal(owner(1), "rent for März 🏠");
        let text = sealed.to_string();
        assert!(
            text.starts_with("pd1:00000000-0000-0000-0000-000000000001:"),
            "{text}"
        );
        assert!(!text.contains("rent"), "{text}");
        let parsed: Sealed = text.parse().expect("parses");
        assert_eq!(parsed, sealed);
        assert_eq!(parsed.owner(), owner(1));
        assert_eq!(key.open(&parsed).expect("opens"), "rent for März 🏠");
    }

    #[test]
    fn sealing_is_deterministic_per_owner_and_text_and_differs_otherwise() {
        let key = DataKey::generate().expect("a key");
        assert_eq!(key.seal(owner(1), "a"), key.seal(owner(1), "a"));
        assert_ne!(key.seal(owner(1), "a"), key.seal(owner(1), "b"));
        assert_ne!(key.seal(owner(1), "a").bytes, key.seal(owner(2), "a").bytes);
        let other = DataKey::generate().expect("another key");
        assert_ne!(key.seal(owner(1), "a"), other.seal(owner(1), "a"));
        // An empty text is sealed as well (the tag alone).
        assert_eq!(key.open(&key.seal(owner(1), "")).expect("opens"), "");
    }

    #[test]
    fn another_key_another_owner_or_an_altered_byte_does_not_open() {
        let key = DataKey::generate().expect("a key");
        let sealed = key.seal(owner(1), "private");
        let other = DataKey::generate().expect("another key");
        assert_eq!(other.open(&sealed), Err(SealError::DoesNotOpen));
        let moved = Sealed {
            owner: owner(2),
            ..sealed.clone()
        };
        assert_eq!(key.open(&moved), Err(SealError::DoesNotOpen));
        for at in [0, NONCE_LEN, sealed.bytes.len() - 1] {
            let mut altered = sealed.clone();
            altered.bytes[at] ^= 1;
            assert_eq!(key.open(&altered), Err(SealError::DoesNotOpen), "byte {at}");
        }
    }

    #[test]
    fn what_is_not_a_sealed_field_is_refused_as_such() {
        let good = DataKey::generate()
            .expect("a key")
            .seal(owner(1), "x")
            .to_string();
        let short = format!("pd1:{}:{}", owner(1), BASE64URL.encode([0_u8; 27]));
        for text in [
            "",
            "plain text",
            "pd2:00000000-0000-0000-0000-000000000001:AAAA",
            "pd1:not-a-uuid:AAAA",
            "pd1:00000000-0000-0000-0000-000000000001:not base64!",
            short.as_str(),
            &good[..good.len() - 1].replace("pd1", "pd9"),
        ] {
            assert_eq!(text.parse::<Sealed>(), Err(SealError::NotSealed), "{text}");
        }
    }

    #[test]
    fn a_data_key_never_shows_in_debug_output() {
        let key = DataKey::from_bytes([7; 32]);
        assert_eq!(format!("{key:?}"), "DataKey(..)");
    }
}
