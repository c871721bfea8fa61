//! Login, tokens and the access rules of API.md: a cadre reads and writes only their village,
//! township staff read their township's villages and write none, a member reads only their own
//! points, an admin manages accounts and may read everything.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::json;
use zhibu_schema::VillageId;

use crate::db::accounts::{Account, Role};
use crate::error::{AppError, AppResult};
use crate::extract::Json;
use crate::state::AppState;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub token: String,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?.trim();
    (!token.is_empty() && token.len() <= 256).then_some(token)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(parts).ok_or_else(AppError::unauthorized)?;
        let account = state.db.account_for_token(token).await?.ok_or_else(AppError::unauthorized)?;
        Ok(Caller { account, token: token.to_owned() })
    }
}

impl Caller {
    pub fn role(&self) -> Role {
        self.account.role
    }

    /// Writing a village's records: its cadres only.
    pub fn require_cadre_of(&self, village: &VillageId) -> AppResult<()> {
        if self.role() == Role::Cadre && self.account.village_id.as_deref() == Some(village.as_str()) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!("本账号无权修改村「{village}」的记录")))
        }
    }

    /// Reading a village's records: its cadres, its township's staff, admins.
    pub fn require_reader_of(&self, village: &VillageId, township: &str) -> AppResult<()> {
        let ok = match self.role() {
            Role::Cadre => self.account.village_id.as_deref() == Some(village.as_str()),
            Role::Township => self.account.township_id.as_deref() == Some(township),
            Role::Admin => true,
            Role::Member => false,
        };
        if ok { Ok(()) } else { Err(AppError::forbidden(format!("本账号无权查看村「{village}」的记录"))) }
    }

    /// Reading a township's report: its staff and admins.
    pub fn require_township(&self, township: &str) -> AppResult<()> {
        let ok = match self.role() {
            Role::Township => self.account.township_id.as_deref() == Some(township),
            Role::Admin => true,
            Role::Cadre | Role::Member => false,
        };
        if ok {
            Ok(())
        } else {
            Err(AppError::forbidden(format!("本账号无权查看乡镇「{township}」的汇总")))
        }
    }

    pub fn require_admin(&self) -> AppResult<()> {
        if self.role() == Role::Admin { Ok(()) } else { Err(AppError::forbidden("只有管理员可以这样做")) }
    }
}

#[derive(Debug, Deserialize)]
struct Login {
    username: String,
    password: String,
}

async fn login(State(state): State<AppState>, Json(body): Json<Login>) -> AppResult<AxumJson<serde_json::Value>> {
    if body.username.len() > 64 || body.password.len() > 256 {
        return Err(AppError::client(axum::http::StatusCode::UNAUTHORIZED, "bad_credentials", "用户名或密码不对"));
    }
    let Some(account) = state.db.verify_login(&body.username, &body.password).await? else {
        tracing::info!(target: "audit", event = "login_refused");
        return Err(AppError::client(axum::http::StatusCode::UNAUTHORIZED, "bad_credentials", "用户名或密码不对"));
    };
    let token = state.db.issue_token(&account.id, state.config.token_days).await?;
    tracing::info!(target: "audit", event = "login", account = %account.id);
    Ok(AxumJson(json!({"token": token, "account": account})))
}

async fn logout(State(state): State<AppState>, caller: Caller) -> AppResult<AxumJson<serde_json::Value>> {
    state.db.revoke_token(&caller.token).await?;
    Ok(AxumJson(json!({"ok": true})))
}

/// Revokes every token of an account (admin).
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(account): axum::extract::Path<String>,
) -> AppResult<AxumJson<serde_json::Value>> {
    caller.require_admin()?;
    if state.db.account(&account).await?.is_none() {
        return Err(AppError::not_found(format!("账号「{account}」不存在")));
    }
    let n = state.db.revoke_tokens(&account).await?;
    tracing::info!(target: "audit", event = "tokens_revoked", by = %caller.account.id, account = %account, count = n);
    Ok(AxumJson(json!({"revoked": n})))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/admin/accounts/{account}/revoke", post(revoke))
}
