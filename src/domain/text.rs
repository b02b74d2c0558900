//! Bounded free text supplied by clients (descriptions, freeze reasons).

use serde::{Deserialize, Serialize};

/// The longest free text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text must not be blank")]
    Blank,
    #[error("text is longer than {MAX_TEXT_CHARS} characters")]
    TooLong,
    #[error("text contains control characters")]
    ControlCharacters,
}

/// Non-blank text of at most [`MAX_TEXT_CHARS`] characters without control characters. Its
/// `Debug` tells its length only: the texts clients type are personal data (see
/// [`crate::domain::personal`]), and a log line must not carry one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Text({} chars)", self.0.chars().count())
    }
}

impl Text {
    pub fn new(text: impl Into<String>) -> Result<Self, TextError> {
        let text = text.into();
        if text.trim().is_empty() {
            Err(TextError::Blank)
        } else if text.chars().count() > MAX_TEXT_CHARS {
            Err(TextError::TooLong)
        } else if text.chars().any(char::is_control) {
            Err(TextError::ControlCharacters)
        } else {
            Ok(Text(text))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Text {
    type Error = TextError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Text::new(text)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_text_reads_back_as_it_was_given_and_never_debug_prints_itself() {
        let text = Text::new("card reported stolen").expect("valid");
        assert_eq!(text.as_str(), "card reported stolen");
        assert_eq!(format!("{text:?}"), "Text(20 chars)");
    }

    use super::*;

    #[test]
    fn blank_long_and_control_text_is_rejected() {
        assert_eq!(Text::new("   "), Err(TextError::Blank));
        assert_eq!(Text::new("x".repeat(MAX_TEXT_CHARS + 1)), Err(TextError::TooLong));
        assert_eq!(Text::new("a\u{0}b"), Err(TextError::ControlCharacters));
        assert!(Text::new("rent for März ✓").is_ok());
    }
}
