//! Data keys, and the sealed form of a personal field.
//!
//! A field is sealed with AES-256-GCM under its owner's [`DataKey`], with the owner's id as
//! associated data (a sealed text copied under another owner does not open), and written as
//! `pd1:{owner}:{base64url of nonce, ciphertext and tag}`: the owner's id is in the clear so that
//! whoever reads a sealed field knows whose key opens it.
//!
//! **Sealing is deterministic**: the nonce is not drawn at random but derived from the text
//! (an HMAC-SHA-256 of the owner and the text under a key of its own, cut to 96 bits: in the
//! spirit of SIV, RFC 5297, but not that mode). The same owner's same text always seals to the
//! same string, so a read model rebuilt from the log gets identical rows, and a command sent
//! again with the same sealed terms compares equal to the first. What that reveals is that two
//! of one owner's fields hold the same text (any two fields: a name and a description alike)
//! and, as with any cipher without padding, each text's length in bytes. A repeated nonce for
//! two different texts would be as harmful here as under any use of GCM (it gives away the XOR
//! of the texts and the means to forge that owner's fields); for n different texts of one owner
//! its chance is about n²/2^97: one in 2^49 after 2^24 texts.
//!
//! Pure but for the randomness of a new key: no database, no clock.

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

/// Why a data key could not be made, or a sealed field could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a sealed personal field (pd1:<owner>:<base64url>)")]
    NotSealed,
    /// A field of another owner than the key's.
    #[error("the sealed field is owner {field}'s, the key owner {key}'s")]
    AnotherOwner { field: Uuid, key: Uuid },
    /// Sealed with another key, or altered.
    #[error("the sealed field does not open with its owner's key: altered, or sealed with another key")]
    DoesNotOpen,
    #[error("cannot draw a key from the operating system's randomness: {0}")]
    NoRandomness(String),
}

/// One owner's key of their personal data: 32 random bytes, from which the cipher's key and the
/// key that derives each field's nonce are drawn apart (so neither is used for two jobs). It
/// knows its owner, so that one owner's text cannot be sealed under another's key (and escape
/// the erasure of its owner's).
#[derive(Clone)]
pub struct DataKey {
    owner: Uuid,
    bytes: [u8; 32],
    cipher: Aes256Gcm,
    nonce_key: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("DataKey")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// A new key of `owner`'s from the operating system's randomness.
    pub fn generate(owner: Uuid) -> Result<Self, SealError> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| SealError::NoRandomness(error.to_string()))?;
        Ok(DataKey::from_bytes(owner, bytes))
    }

    /// `owner`'s key of these bytes (as a master key unwraps it).
    pub(crate) fn from_bytes(owner: Uuid, bytes: [u8; 32]) -> Self {
        let cipher_key = subkey(&bytes, b"foldbank-pd:v1:cipher");
        DataKey {
            owner,
            bytes,
            cipher: Aes256Gcm::new(&cipher_key.into()),
            nonce_key: subkey(&bytes, b"foldbank-pd:v1:nonce"),
        }
    }

    /// The key's own 32 bytes: what a master key wraps.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Whose key it is.
    pub fn owner(&self) -> Uuid {
        self.owner
    }

    /// `text` of the key's owner, sealed (the same text always seals to the same field).
    pub fn seal(&self, text: &str) -> Sealed {
        let owner = self.owner;
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
        if sealed.owner != self.owner {
            return Err(SealError::AnotherOwner {
                field: sealed.owner,
                key: self.owner,
            });
        }
        let Some((nonce, ciphertext)) = sealed.bytes.split_at_checked(NONCE_LEN) else {
            return Err(SealError::DoesNotOpen);
        };
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
    /// Nonce, ciphertext and tag: at least `NONCE_LEN + TAG_LEN` bytes.
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

/// What the domain carries: the sealed field, opaque to it.
impl From<Sealed> for crate::domain::personal::Personal {
    fn from(sealed: Sealed) -> Self {
        crate::domain::personal::Personal::new(sealed.to_string())
    }
}

impl FromStr for Sealed {
    type Err = SealError;

    fn from_str(text: &str) -> Result<Self, SealError> {
        let mut parts = text.splitn(3, ':');
        let (Some(PREFIX), Some(owner), Some(sealed)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::NotSealed);
        };
        // One string per sealed field: only the lowercase hyphenated id that `Display` writes
        // (36 characters are the hyphenated form to `try_parse`).
        if owner.len() != 36 || owner.bytes().any(|byte| byte.is_ascii_uppercase()) {
            return Err(SealError::NotSealed);
        }
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

    fn key_of(n: u128) -> DataKey {
        DataKey::generate(owner(n)).expect("a key")
    }

    #[test]
    fn a_sealed_text_opens_with_its_owners_key_and_reads_back_from_its_string() {
        let key = key_of(1);
        let sealed = key.seal("rent for März 🏠");
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

    /// The values were computed apart from this code, with Python's `cryptography` (HMAC,
    /// AES-GCM) from the construction the module's documentation gives: a change to a label,
    /// the nonce's input or the associated data would change every sealed field ever stored.
    #[test]
    fn sealing_is_pinned_to_the_v1_format() {
        let key = DataKey::from_bytes(owner(1), [7; 32]);
        assert_eq!(
            key.seal("x").to_string(),
            "pd1:00000000-0000-0000-0000-000000000001:2A83b0FFg9oE2v1t1RFZ-oheYjPNXsTV_-Kv6aQ"
        );
        assert_eq!(
            key.seal("").to_string(),
            "pd1:00000000-0000-0000-0000-000000000001:EBVwj1pqgVDklWBbxWzL_AaIX_b7zZw_5MhgmA"
        );
    }

    #[test]
    fn sealing_is_deterministic_per_owner_and_text_and_differs_otherwise() {
        let key = key_of(1);
        assert_eq!(key.seal("a"), key.seal("a"));
        assert_ne!(key.seal("a"), key.seal("b"));
        let same_bytes = DataKey::from_bytes(owner(2), key.bytes);
        assert_ne!(key.seal("a").bytes, same_bytes.seal("a").bytes);
        assert_ne!(key.seal("a"), key_of(1).seal("a"));
        // An empty text is sealed as well (the tag alone).
        assert_eq!(key.open(&key.seal("")).expect("opens"), "");
    }

    #[test]
    fn another_key_another_owner_or_an_altered_byte_does_not_open() {
        let key = key_of(1);
        let sealed = key.seal("private");
        assert_eq!(key_of(1).open(&sealed), Err(SealError::DoesNotOpen));
        assert_eq!(
            key_of(2).open(&sealed),
            Err(SealError::AnotherOwner {
                field: owner(1),
                key: owner(2)
            })
        );
        // The same bytes under another owner's name: the associated data no longer matches.
        let moved = Sealed {
            owner: owner(2),
            ..sealed.clone()
        };
        let same_bytes = DataKey::from_bytes(owner(2), key.bytes);
        assert_eq!(same_bytes.open(&moved), Err(SealError::DoesNotOpen));
        for at in [0, NONCE_LEN, sealed.bytes.len() - 1] {
            let mut altered = sealed.clone();
            altered.bytes[at] ^= 1;
            assert_eq!(key.open(&altered), Err(SealError::DoesNotOpen), "byte {at}");
        }
    }

    #[test]
    fn what_is_not_a_sealed_field_in_its_one_spelling_is_refused() {
        let good = key_of(0xab).seal("x").to_string();
        let body = good.rsplit(':').next().expect("the sealed bytes");
        let short = format!("pd1:{}:{}", owner(1), BASE64URL.encode([0_u8; 27]));
        for text in [
            String::new(),
            "plain text".to_owned(),
            format!("pd2:{}:{body}", owner(0xab)),
            format!("pd1:not-a-uuid:{body}"),
            format!("pd1:{}:not base64!", owner(0xab)),
            short,
            format!("pd1:{}:{body}", owner(0xab).simple()),
            format!("pd1:{{{}}}:{body}", owner(0xab)),
            format!("pd1:00000000-0000-0000-0000-0000000000AB:{body}"),
            format!("{good}:x"),
        ] {
            assert_eq!(text.parse::<Sealed>(), Err(SealError::NotSealed), "{text}");
        }
        assert!(good.parse::<Sealed>().is_ok());
    }

    #[test]
    fn a_data_key_shows_its_owner_never_the_key() {
        let key = DataKey::from_bytes(owner(1), [7; 32]);
        assert_eq!(
            format!("{key:?}"),
            "DataKey { owner: 00000000-0000-0000-0000-000000000001, .. }"
        );
    }
}
