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
    #[error("只能写一行，不能换行")]
    LineBreak,
}

/// Trimmed, non-empty text of at most `MAX` characters, without control characters other than
/// tabs, and line breaks where `LINES` allows more than one line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text<const MAX: usize, const LINES: bool = false>(String);

/// Names, places, groups: one short line.
pub type Name = Text<64>;
/// Topics, titles: one line.
pub type Line = Text<200>;
/// Notes, reasons, resolutions, outcomes: paragraphs.
pub type Prose = Text<4000, true>;

impl<const MAX: usize, const LINES: bool> Text<MAX, LINES> {
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
        if !LINES && t.contains(['\n', '\r']) {
            return Err(TextError::LineBreak);
        }
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize, const LINES: bool> TryFrom<String> for Text<MAX, LINES> {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        Self::parse(&s)
    }
}
impl<const MAX: usize, const LINES: bool> From<Text<MAX, LINES>> for String {
    fn from(t: Text<MAX, LINES>) -> String {
        t.0
    }
}
impl<const MAX: usize, const LINES: bool> fmt::Display for Text<MAX, LINES> {
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

    #[test]
    fn names_and_topics_are_one_line() {
        // A name with a line break would break every list and table it is shown in.
        assert_eq!(Name::parse("张\n三"), Err(TextError::LineBreak));
        assert_eq!(Line::parse("学习\r\n党章"), Err(TextError::LineBreak));
        assert_eq!(TextError::LineBreak.to_string(), "只能写一行，不能换行");
        assert!(Name::parse("张三\n").is_ok(), "trimmed first");
    }
}
