//! Signatures per the Standard Webhooks specification, so that receivers can check with
//! off-the-shelf libraries that a message came from this bank and was not changed.
//!
//! Each subscription has its own secret, 32 random bytes shown once as `whsec_<base64>`. A
//! message is signed by HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>` and sent with
//! three headers: `webhook-id` (the same on every retry: receivers drop duplicates by it),
//! `webhook-timestamp` (seconds since the epoch, when this attempt was signed: receivers refuse
//! old ones, which stops replays of a captured message) and `webhook-signature`
//! (`v1,<base64 of the MAC>`).
//!
//! The tests check these signatures with two implementations this project did not write: the
//! `standardwebhooks` crate (the specification's reference for Rust) and, in `.ci/run`, the
//! Python package of the same name.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a secret is written: the prefix the specification's libraries strip.
const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a secret (the specification asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// The headers of a signed message.
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the system gave no randomness: {0}")]
    NoRandomness(String),
    #[error("a webhook secret is whsec_ followed by base64 of 24 to 64 bytes")]
    Malformed,
}

/// A subscription's signing secret. Its `Debug` shows no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = vec![0_u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|error| SecretError::NoRandomness(error.to_string()))?;
        Ok(WebhookSecret(bytes))
    }

    /// Reads `whsec_<base64>`, as [`Display`](fmt::Display) writes it.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretError::Malformed)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SecretError::Malformed);
        }
        Ok(WebhookSecret(bytes))
    }

    /// `whsec_<base64>`: how it is shown once to the subscriber, and stored.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` header's value for a message: `v1,<base64 HMAC-SHA256>`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (its README and every reference library's tests).
    #[test]
    fn signs_the_specifications_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // And the reference Rust library's own test vector.
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").expect("secret");
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    /// Checked by the reference implementation for Rust (a different HMAC underneath).
    #[test]
    fn the_reference_library_accepts_our_signatures() {
        let secret = WebhookSecret::generate().expect("secret");
        let body = r#"{"type":"money.deposited.v1","data":{"amount":100}}"#;
        let now = chrono::Utc::now().timestamp();
        let signature = secret.sign("0193a5a4-0000-7000-8000-000000000001", now, body);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            WEBHOOK_ID,
            "0193a5a4-0000-7000-8000-000000000001".parse().expect("id"),
        );
        headers.insert(WEBHOOK_TIMESTAMP, now.to_string().parse().expect("timestamp"));
        headers.insert(WEBHOOK_SIGNATURE, signature.parse().expect("signature"));
        let reference = standardwebhooks::Webhook::new(&secret.expose()).expect("reference reads the secret");
        reference
            .verify(body.as_bytes(), &headers)
            .expect("the reference verifies it");
        assert!(
            reference.verify(b"{}", &headers).is_err(),
            "another body must not verify"
        );
    }

    #[test]
    fn a_secret_round_trips_through_its_text_and_rejects_others() {
        let secret = WebhookSecret::generate().expect("secret");
        assert_eq!(WebhookSecret::parse(&secret.expose()).expect("parse"), secret);
        assert!(secret.expose().starts_with("whsec_"));
        assert!(WebhookSecret::parse("whsec_!!").is_err());
        assert!(
            WebhookSecret::parse(&STANDARD.encode([1_u8; 32])).is_err(),
            "prefix needed"
        );
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([1_u8; 8]))).is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }
}
