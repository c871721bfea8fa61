//! Free text in records. Text is trimmed and never empty, and it is bounded so that a phone
//! cannot bloat a village's document with megabytes in one field.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("不能为空")]
    Empty,
    #[error("太长：最多 {max} 个字，现有 {len} 个字")]
    TooLong { max: usize, len: usize },
    #[error("含有不可见的控制字符")]
    Control,
}

/// Trimmed, non-empty text of at most `MAX` characters, without control characters other than
/// line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MAX: usize>(String);

/// Names, places, groups: one short line.
pub type Name = Text<64>;
/// Topics, titles: one line.
pub type Line = Text<200>;
/// Notes, reasons, resolutions, outcomes.
pub type Prose = Text<4000>;

impl<const MAX: usize> Text<MAX> {
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(TextError::Empty);
        }
        let len = t.chars().count();
        if len > MAX {
            return Err(TextError::TooLong { max: MAX, len });
        }
        if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(TextError::Control);
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for Text<MAX> {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        Self::parse(&s)
    }
}
impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(t: Text<MAX>) -> String {
        t.0
    }
}
impl<const MAX: usize> fmt::Display for Text<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed() {
        assert_eq!(Name::parse("  张三 ").map(|n| n.0), Ok("张三".to_owned()));
    }

    #[test]
    fn empty_text_is_refused() {
        assert_eq!(Name::parse("   "), Err(TextError::Empty));
        assert_eq!(TextError::Empty.to_string(), "不能为空");
    }

    #[test]
    fn long_text_is_refused_counting_characters_not_bytes() {
        assert!(Name::parse(&"党".repeat(64)).is_ok());
        let err = Name::parse(&"党".repeat(65)).expect_err("too long");
        assert_eq!(err.to_string(), "太长：最多 64 个字，现有 65 个字");
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_are_kept() {
        assert_eq!(Prose::parse("a\u{0}b"), Err(TextError::Control));
        assert!(Prose::parse("第一条\n第二条").is_ok());
    }
}
