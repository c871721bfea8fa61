//! The file stem of a document in the store directory.
//!
//! Invariant: a [`DocName`] is 1 to 100 ASCII letters, digits, `-`, `_` and `.`, does not start
//! with `.` and does not contain `..`. So `DIR/NAME.snap` and `DIR/NAME.log` always stay inside
//! `DIR`, are valid file names on every platform we ship to, never collide with the store's own
//! hidden files (`.lock`, `.NAME.snap.tmp`) and leave room for the suffixes within the 255-byte
//! file name limit. An allow-list rather than a deny-list: it cannot miss a separator or a
//! reserved character we did not think of (`:` on Windows, for one).

use super::StoreError;

const MAX_LEN: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DocName(String);

impl DocName {
    pub fn parse(name: &str) -> Result<DocName, StoreError> {
        let reject = |reason| Err(StoreError::InvalidName { name: name.to_owned(), reason });
        if name.is_empty() {
            return reject("empty");
        }
        if name.len() > MAX_LEN {
            return reject("longer than 100 bytes");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return reject("only ASCII letters, digits, '-', '_' and '.' are allowed");
        }
        if name.starts_with('.') {
            return reject("starts with '.'");
        }
        if name.contains("..") {
            return reject("contains '..'");
        }
        Ok(DocName(name.to_owned()))
    }

    pub fn file_name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stem_made_by_the_caller_is_accepted() {
        let name = DocName::parse("demo-1.2026").unwrap();

        assert_eq!(name.file_name("log"), "demo-1.2026.log");
    }

    #[test]
    fn names_that_could_leave_the_directory_or_break_a_platform_are_rejected() {
        let too_long = "a".repeat(MAX_LEN + 1);
        for bad in ["", "a/b", "a\\b", "..", "a..b", "../x", "a\0b", ".lock", ".", "c:d", "支部", &too_long] {
            let err = DocName::parse(bad).unwrap_err();
            assert!(matches!(err, StoreError::InvalidName { .. }), "{bad:?}");
        }
    }
}
