//! Who is looking at a page: the `Caller` of the API (bearer token or session cookie), with a
//! refusal that sends anonymous visitors to the login page, and the header's view of them.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;

use super::error::PageError;
use crate::auth::Caller;
use crate::db::accounts::{Account, Role};
use crate::state::AppState;

/// The logged-in caller of a page; anonymous requests are redirected to `/login`.
#[derive(Debug, Clone)]
pub struct Viewer(pub Caller);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(Viewer(Caller::from_request_parts(parts, state).await?))
    }
}

/// The page an account starts on after logging in.
pub fn home(account: &Account) -> String {
    match (account.role, account.village_id.as_deref()) {
        (Role::Member, _) => "/me".to_owned(),
        (Role::Cadre, Some(v)) => format!("/villages/{v}"),
        _ => "/township".to_owned(),
    }
}

/// What the page header shows about the viewer.
#[derive(Debug, Clone, Serialize)]
pub struct ViewerInfo {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub home: String,
    pub home_label: &'static str,
}

impl Viewer {
    pub fn info(&self) -> ViewerInfo {
        let a = &self.0.account;
        ViewerInfo {
            id: a.id.clone(),
            name: a.display_name.clone().unwrap_or_else(|| a.id.clone()),
            role: a.role.label(),
            home: home(a),
            home_label: match a.role {
                Role::Member => "我的积分",
                Role::Cadre => "本村记录",
                Role::Township | Role::Admin => "乡镇汇总",
            },
        }
    }
}
