//! Login, tokens and the access rules of API.md: a cadre reads and writes only their village,
//! township staff read their township's villages and write none, a member reads only their own
//! points, an admin manages accounts and may read everything.
//!
//! A caller proves who they are with a login token, sent either as `Authorization: Bearer` (the
//! phones, the API) or as the web pages' session cookie. The cookie is HttpOnly and
//! SameSite=Strict and authenticates safe requests (GET, HEAD) only: every write needs the
//! bearer token, so no page, and no other site, can make a browser write on a user's behalf.
//! The exceptions are the pages' own forms to log out and to change one's password
//! (`pages/login.rs`), which are refused when the browser says they come from another site, and
//! the latter needs the old password.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::routing::post;
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::json;
use zhibu_schema::VillageId;

use crate::audit::{self, Typed};
use crate::db::accounts::{Account, Role};
use crate::db::now_ms;
use crate::error::{AppError, AppResult};
use crate::extract::Json;
use crate::state::AppState;
use crate::throttle::{self, ClientAddr, Limits, Subject, Verdict};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub token: String,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    // The scheme's name is case-insensitive (RFC 9110, 11.1).
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    (!token.is_empty() && token.len() <= 256).then_some(token)
}

/// The name of the web pages' session cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "zhibu_session";

/// Its name over HTTPS. A browser takes a `__Host-` cookie only from a secure page of this very
/// host, with `Path=/` and no `Domain`, so a neighbouring subdomain or a page served over plain
/// HTTP on the way cannot plant a session of its own choosing in the cadre's browser (their
/// records would then be written in the planter's account).
pub const SECURE_SESSION_COOKIE: &str = "__Host-zhibu_session";

fn session_cookie_name(https: bool) -> &'static str {
    if https { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// The login token in the request's session cookie, if any: over HTTPS only the `__Host-`
/// cookie counts.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    let name = session_cookie_name(is_https(headers));
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// Whether the request reached us over HTTPS (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
    let forwarded = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok());
    forwarded_proto.is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        || forwarded.is_some_and(|f| f.to_ascii_lowercase().contains("proto=https"))
}

/// A `Set-Cookie` value holding a session for `max_age_secs` (0 ends it): `__Host-` and
/// `Secure` over HTTPS.
pub fn session_cookie(token: &str, max_age_secs: u64, https: bool) -> HeaderValue {
    let name = session_cookie_name(https);
    let secure = if https { "; Secure" } else { "" };
    let value = format!("{name}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("zhibu_session=; Max-Age=0"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        let token = bearer(parts)
            .or_else(|| if safe { session_token(&parts.headers) } else { None })
            .ok_or_else(AppError::unauthorized)?;
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

#[derive(Debug, Deserialize)]
struct PasswordChange {
    old_password: String,
    new_password: String,
}

/// What is wrong with a password an account would have, in words for its owner: at least 8
/// characters, and at most the 256 bytes a login takes (a long Chinese passphrase would
/// otherwise make an account no one can log in to).
pub fn password_problem(password: &str) -> Option<String> {
    let least = zhibu_schema::MIN_PASSWORD_CHARS;
    // Spaces at either end do not count: eight of them are no password.
    if password.trim().chars().count() < least {
        Some(format!("密码至少 {least} 位（两端的空格不算）"))
    } else if password.len() > 256 {
        Some("密码太长：最多 256 字节（汉字每个 3 字节）".to_owned())
    } else {
        None
    }
}

/// Changes the caller's own password. The old one is checked as a login checks it (and
/// throttled alike, so a stolen token cannot be used to guess it), though it is no login (no
/// token for it, no login in the audit log); then the new one is set,
/// every token of the account ends (another phone, a stolen token, the township clerk who
/// handed out the first password), and a new token is issued for this client.
pub async fn change_password(
    state: &AppState,
    addr: ClientAddr,
    caller: &Caller,
    old: &str,
    new: &str,
) -> AppResult<(Account, String)> {
    if let Some(problem) = password_problem(new) {
        return Err(AppError::client(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "bad_password", problem));
    }
    if new == old {
        let message = "新密码不能与原密码相同";
        return Err(AppError::client(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "bad_password", message));
    }
    let account = match check_password(state, addr, &caller.account.id, old).await {
        Ok((account, counted)) => {
            counted.succeeded(state).await?;
            account
        }
        Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
            return Err(AppError::client(axum::http::StatusCode::FORBIDDEN, "wrong_password", "原密码不对"));
        }
        Err(e) => return Err(e),
    };
    if !state.db.set_password(&account.id, new.to_owned()).await? {
        return Err(AppError::unauthorized());
    }
    let token = state.db.issue_token(&account.id, state.config.token_days).await?;
    audit::password_changed(&account.id, addr);
    Ok((account, token))
}

/// The throttle's counters an attempt was counted under (see [`crate::throttle`]).
struct Counted<'a> {
    by_pair: Subject<'a>,
    by_account: Subject<'a>,
    by_address: Option<Subject<'a>>,
    limits: Limits,
    now: i64,
}

impl Counted<'_> {
    /// After a success: the name's failures from this address are forgotten; from everywhere,
    /// and from the address, the success only takes its own attempt back (someone else's
    /// guessing stays counted).
    async fn succeeded(&self, state: &AppState) -> AppResult<()> {
        throttle::clear(&state.db, self.by_pair, &self.limits, self.now).await?;
        throttle::uncount(&state.db, self.by_account).await?;
        if let Some(subject) = self.by_address {
            throttle::uncount(&state.db, subject).await?;
        }
        Ok(())
    }
}

/// Checks a name and password, the attempt counted first: the account, or a 401
/// `bad_credentials`; too many failures, per name or per address, a 429 that says when to try
/// again.
async fn check_password<'a>(
    state: &AppState,
    addr: ClientAddr,
    username: &'a str,
    password: &str,
) -> AppResult<(Account, Counted<'a>)> {
    let refused = || AppError::client(axum::http::StatusCode::UNAUTHORIZED, "bad_credentials", "用户名或密码不对");
    if username.len() > 64 || password.len() > 256 {
        return Err(refused());
    }
    let limits = Limits::default();
    let now = now_ms();
    let by_address = addr.0.map(Subject::Address);
    let by_account = Subject::Account(username);
    if let Some(subject) = by_address
        && let Verdict::Locked { retry_after } = throttle::count_attempt(&state.db, subject, &limits, now, None).await?
    {
        audit::login_throttled(typed(state, username).await?, addr, "address", retry_after);
        return Err(AppError::Throttled { retry_after });
    }
    // The name from this address, then from everywhere (but from the addresses the account
    // logged in from): a refusal takes back what was counted before it, so that only attempts
    // that reach the password check count.
    let by_pair = Subject::AccountFrom(username, addr.0);
    let mut counted: Vec<Subject<'_>> = by_address.into_iter().collect();
    let unlocked = throttle::unlocked_at(&state.db, username).await?;
    for subject in [by_pair, by_account] {
        if let Verdict::Locked { retry_after } =
            throttle::count_attempt(&state.db, subject, &limits, now, unlocked).await?
            && !(subject == by_account && throttle::is_known(&state.db, username, addr.0, now).await?)
        {
            for earlier in counted {
                throttle::uncount(&state.db, earlier).await?;
            }
            audit::login_throttled(typed(state, username).await?, addr, "account", retry_after);
            return Err(AppError::Throttled { retry_after });
        }
        counted.push(subject);
    }
    let Some(account) = state.db.verify_login(username, password).await? else {
        audit::login_refused(typed(state, username).await?, addr);
        return Err(refused());
    };
    Ok((account, Counted { by_pair, by_account, by_address, limits, now }))
}

/// Checks a name and password and issues a login token: the API's login and the login page.
/// A wrong name or password is a 401 `bad_credentials`; too many of them, per name or per
/// address (see [`crate::throttle`]), a 429 that says when to try again.
pub async fn log_in(
    state: &AppState,
    addr: ClientAddr,
    username: &str,
    password: &str,
) -> AppResult<(Account, String)> {
    let (account, counted) = check_password(state, addr, username, password).await?;
    counted.succeeded(state).await?;
    throttle::remember_success(&state.db, &account.id, addr.0, counted.now).await?;
    let token = state.db.issue_token(&account.id, state.config.token_days).await?;
    audit::login(&account.id, addr);
    Ok((account, token))
}

/// A name typed at login as the audit log may show it: only when it is an existing account.
async fn typed<'a>(state: &AppState, username: &'a str) -> AppResult<Typed<'a>> {
    let exists = zhibu_schema::AccountId::parse(username).is_ok() && state.db.account(username).await?.is_some();
    Ok(if exists { Typed::Account(username) } else { Typed::Unknown })
}

/// Ends one login token (logging out of the API or the pages).
pub async fn log_out(state: &AppState, addr: ClientAddr, token: &str) -> AppResult<()> {
    let account = state.db.account_for_token(token).await?;
    state.db.revoke_token(token).await?;
    if let Some(a) = account {
        audit::logout(&a.id, addr);
    }
    Ok(())
}

/// Logs in with a name and password.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = crate::openapi::LoginRequest,
    responses(
        (status = 200, description = "登录令牌与账号", body = crate::openapi::LoginResponse),
        crate::openapi::LoginErrors,
    )
)]
async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    Json(body): Json<Login>,
) -> AppResult<AxumJson<serde_json::Value>> {
    let (account, token) = log_in(&state, addr, &body.username, &body.password).await?;
    Ok(AxumJson(json!({"token": token, "account": account})))
}

/// Ends the caller's token.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "已退出", body = crate::openapi::LoggedOut),
        crate::openapi::SignedIn,
    )
)]
async fn logout(
    State(state): State<AppState>,
    addr: ClientAddr,
    caller: Caller,
) -> AppResult<AxumJson<serde_json::Value>> {
    log_out(&state, addr, &caller.token).await?;
    Ok(AxumJson(json!({"ok": true})))
}

/// Changes the caller's own password: every token of the account ends, and the answer carries
/// a new one for this client, as a login's does.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    request_body = crate::openapi::PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "新的登录令牌与账号；其他令牌都已作废", body = crate::openapi::LoginResponse),
        crate::openapi::PasswordErrors,
    )
)]
async fn password(
    State(state): State<AppState>,
    addr: ClientAddr,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> AppResult<AxumJson<serde_json::Value>> {
    let (account, token) = change_password(&state, addr, &caller, &body.old_password, &body.new_password).await?;
    Ok(AxumJson(json!({"token": token, "account": account})))
}

/// Revokes every token of an account (admin).
#[utoipa::path(
    post,
    path = "/v1/admin/accounts/{account}/revoke",
    tag = "admin",
    params(("account" = String, Path, description = "账号", pattern = "^[a-z0-9-]{1,64}$", example = "demo-1-m01")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "已吊销的令牌数", body = crate::openapi::Revoked),
        crate::openapi::AdminErrors,
    )
)]
async fn revoke(
    State(state): State<AppState>,
    addr: ClientAddr,
    caller: Caller,
    axum::extract::Path(account): axum::extract::Path<String>,
) -> AppResult<AxumJson<serde_json::Value>> {
    caller.require_admin()?;
    // Parsed first: an id no account can have (a NUL, say) is not a database question.
    if zhibu_schema::AccountId::parse(&account).is_err() || state.db.account(&account).await?.is_none() {
        return Err(AppError::not_found(format!("账号「{account}」不存在")));
    }
    let n = state.db.revoke_tokens(&account).await?;
    audit::tokens_revoked(&caller.account.id, &account, n, addr);
    Ok(AxumJson(json!({"revoked": n})))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/auth/password", post(password))
        .route("/v1/admin/accounts/{account}/revoke", post(revoke))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(authorization: &str) -> Parts {
        let request = axum::http::Request::builder().header(header::AUTHORIZATION, authorization).body(()).unwrap();
        request.into_parts().0
    }

    #[test]
    fn the_scheme_is_read_in_any_case_and_the_token_as_sent() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer  abc "] {
            assert_eq!(bearer(&parts(value)), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer(&parts(value)), None, "{value}");
        }
        assert_eq!(bearer(&parts(&format!("Bearer {}", "x".repeat(257)))), None, "too long");
    }
}
