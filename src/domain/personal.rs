//! Personal data as the domain holds it: sealed, and never read.
//!
//! A description, a freeze reason or a holder's name is the personal data of the account's
//! owner. The command boundary validates the text a client sends (as [`Text`]), seals it with
//! the owner's data key (`crate::privacy`), and hands the domain only the sealed form; events,
//! snapshots and read models keep that form, and only the HTTP edge opens it. The domain
//! copies a [`Personal`] from a command into an event and never looks inside, so it needs no
//! key and stays pure, and erasing the owner's key makes every copy unreadable at once.
//!
//! Events written before personal data was sealed hold plain text here; they read back as they
//! were stored.
//!
//! [`Text`]: crate::domain::text::Text

use std::fmt;

use serde::{Deserialize, Serialize};

/// A personal field, sealed (see the module docs). Its `Debug` tells its length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Personal(String);

impl Personal {
    /// A field as sealed by the command boundary (`crate::privacy::Sealed` converts into one),
    /// or as an older event stored it.
    pub fn new(stored: impl Into<String>) -> Self {
        Personal(stored.into())
    }

    /// The stored form: what events, snapshots and read models hold.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Sealed text says nothing, but an older event's plain text would: logs get neither.
        write!(f, "Personal({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_personal_field_is_stored_as_the_string_it_was_given_and_never_debug_printed() {
        let field = Personal::new("pd1:stored form");
        assert_eq!(field.as_str(), "pd1:stored form");
        assert_eq!(
            serde_json::to_value(&field).expect("serializes"),
            "pd1:stored form"
        );
        let back: Personal = serde_json::from_value(serde_json::json!("plain, as older events hold it"))
            .expect("deserializes");
        assert_eq!(back.as_str(), "plain, as older events hold it");
        assert_eq!(format!("{field:?}"), "Personal(15 bytes)");
    }
}
