//! What an account may do (API.md's `role`), shared by the server that checks it and the
//! phone that shows it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 村干部: reads and writes their village's records.
    Cadre,
    /// 乡镇工作人员: reads the township's villages, writes none.
    Township,
    /// 党员: reads their own points.
    Member,
    /// Runs the server: accounts and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Cadre, Role::Township, Role::Member, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Cadre => "cadre",
            Role::Township => "township",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn from_code(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.code() == s)
    }

    /// The role in Chinese.
    pub fn label(self) -> &'static str {
        match self {
            Role::Cadre => "村干部",
            Role::Township => "乡镇",
            Role::Member => "党员",
            Role::Admin => "管理员",
        }
    }
}

/// The fewest characters an account's password may have: the server refuses a shorter one, and
/// the phone says so before asking it.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_codes_round_trip_as_the_api_writes_them() {
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_string(&r).expect("json"), format!("\"{}\"", r.code()));
        }
        assert_eq!(Role::Township.label(), "乡镇");
    }
}
