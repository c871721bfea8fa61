//! Who is logged in on this phone: the server's address, the token and the account, kept in
//! `account.json` (written whole and atomically, so it is always the old or the new login).

use std::fmt;

use serde::{Deserialize, Serialize};
use zhibu_schema::{AccountId, MemberId, VillageId};

/// What an account may do, as the server's login returns it.
pub use zhibu_schema::Role;

/// An account as `POST /v1/auth/login` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account id (the `by` of the records it makes).
    pub id: AccountId,
    /// What the account may do.
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The township the account belongs to.
    pub township_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The village of a cadre or member.
    pub village_id: Option<VillageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The member a member account is.
    pub member_id: Option<MemberId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// A name to greet the user by.
    pub display_name: Option<String>,
}

/// A login on this phone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The server's base URL, e.g. `http://10.0.0.2:8080`, without a trailing `/`.
    pub server: String,
    /// The bearer token.
    pub token: String,
    /// Who is logged in.
    pub account: Account,
}

impl Session {
    /// The village whose documents this account writes (cadres) or reads its points in
    /// (members).
    pub fn village(&self) -> Option<&VillageId> {
        self.account.village_id.as_ref()
    }
}

// The token is a password in all but name: keep it out of logs.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("server", &self.server)
            .field("token", &"<hidden>")
            .field("account", &self.account)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_login_reply_parses_and_the_token_stays_out_of_debug_output() {
        let json = r#"{"id":"cadre1","role":"cadre","township_id":"t1","village_id":"v1"}"#;
        let account: Account = serde_json::from_str(json).unwrap();
        assert_eq!(account.role, Role::Cadre);
        let s = Session { server: "http://x".into(), token: "secret-token".into(), account };
        assert!(!format!("{s:?}").contains("secret-token"));
        assert_eq!(s.village().map(VillageId::as_str), Some("v1"));
    }
}
