//! Identifiers. Every id in a document passes through one of these parsing constructors, so
//! after parsing no code can hold an id that breaks the API's rules.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a piece of text is not a valid id or code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("编号「{0}」不合规：只能用小写字母、数字和“-”，长度 1 到 64")]
    Slug(String),
    #[error(
        "记录编号「{0}」不是标准格式的 UUID：应为小写字母和数字、带连字符，如 0190f3a2-7b1c-7d40-9a11-3c5e2b7d9f01"
    )]
    Record(String),
    #[error("代码「{0}」不合规：只能用小写字母、数字和“_”，长度 1 到 64")]
    Code(String),
}

fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses lowercase ASCII letters, digits and `-`, 1 to 64 characters.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                if is_slug(s) { Ok(Self(s.to_owned())) } else { Err(IdError::Slug(s.to_owned())) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                if is_slug(&s) { Ok(Self(s)) } else { Err(IdError::Slug(s)) }
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

slug_id!(
    /// A township (乡镇), e.g. `demo`.
    TownshipId
);
slug_id!(
    /// A village (村), e.g. `demo-1`.
    VillageId
);
slug_id!(
    /// A party member on a village roster.
    MemberId
);
slug_id!(
    /// An account (the `by` of records).
    AccountId
);

/// The id of a meeting, point entry or case: a UUID in its canonical lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.hyphenated().to_string() == s => Ok(Self(s.to_owned())),
            _ => Err(IdError::Record(s.to_owned())),
        }
    }

    /// A fresh time-ordered id (UUID v7), as phones make them.
    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// A deterministic id from a number, for tests and generated data.
    pub fn from_u128(n: u128) -> Self {
        Self(uuid::Uuid::from_u128(n).hyphenated().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecordId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.0
    }
}
impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A catalog code: a point rule, a micro-power item or one of its steps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Code(String);

impl Code {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok =
            (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok { Ok(Self(s.to_owned())) } else { Err(IdError::Code(s.to_owned())) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}
impl From<Code> for String {
    fn from(c: Code) -> String {
        c.0
    }
}
impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_ids_accept_lowercase_digits_and_dash() {
        assert!(VillageId::parse("demo-1").is_ok());
        assert!(MemberId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn slug_ids_refuse_everything_else_with_a_chinese_message() {
        for bad in ["", "Demo", "a/b", "../x", "a b", "村", "a_b", &"a".repeat(65)] {
            let err = VillageId::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("只能用小写字母"), "{err}");
        }
    }

    #[test]
    fn record_ids_must_be_canonical_uuids() {
        let id = RecordId::new_v7();
        assert_eq!(RecordId::parse(id.as_str()), Ok(id.clone()));
        assert!(RecordId::parse(&id.as_str().to_uppercase()).is_err());
        assert!(RecordId::parse("not-a-uuid").is_err());
        assert!(RecordId::parse(&id.as_str().replace('-', "")).is_err());
    }

    #[test]
    fn codes_use_underscores() {
        assert!(Code::parse("attend_absent").is_ok());
        assert!(Code::parse("attend-absent").is_err());
    }

    #[test]
    fn serde_goes_through_the_parser() {
        assert!(serde_json::from_str::<MemberId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<MemberId>("\"Not/ok\"").is_err());
    }
}
