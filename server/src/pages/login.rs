//! Logging in and out of the pages. A login issues the same token as `POST /v1/auth/login`
//! and keeps it in the session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS); logging
//! out revokes that token and clears the cookie.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::session::{Viewer, home};
use super::templates::render;
use crate::auth::{self, is_https, session_cookie, session_token};
use crate::error::{AppError, throttled_message};
use crate::state::AppState;
use crate::throttle::{self, ClientAddr};

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Serialize)]
struct LoginView<'a> {
    username: &'a str,
    error: Option<&'a str>,
}

fn login_page(status: StatusCode, username: &str, error: Option<&str>) -> Result<Response, PageError> {
    let html = render("login.html", "登录", None, &LoginView { username, error })?;
    Ok((status, html).into_response())
}

/// The start page: the viewer's own page, or the login page.
async fn root(viewer: Result<Viewer, PageError>) -> Redirect {
    match viewer {
        Ok(Viewer(caller)) => Redirect::to(&home(&caller.account)),
        Err(_) => Redirect::to("/login"),
    }
}

async fn show() -> Result<Response, PageError> {
    login_page(StatusCode::OK, "", None)
}

/// Refuses a form posted from another site's page (the browser says where a form came from
/// in `Origin`): a login planted by another site would sign the clerk in as someone else, and a
/// planted logout would end their session. A request without `Origin` (an older browser, a
/// program) is let through; the cookie's SameSite=Strict covers the rest.
fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let from = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    // The site as the browser reached it: the Host header, or the one a reverse proxy passes on.
    let ours = [header::HOST.as_str(), "x-forwarded-host"]
        .into_iter()
        .filter_map(|h| headers.get(h).and_then(|v| v.to_str().ok()))
        .any(|host| !host.is_empty() && from.eq_ignore_ascii_case(host.trim()));
    match ours {
        true => Ok(()),
        false => Err(AppError::forbidden("该表单来自其他网站，已拒绝。请在本站的页面上操作").into()),
    }
}

async fn submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let username = form.username.trim();
    if username.is_empty() || form.password.is_empty() {
        return login_page(StatusCode::UNAUTHORIZED, username, Some("请输入用户名和密码"));
    }
    match auth::log_in(&state, addr, username, &form.password).await {
        Ok((account, token)) => {
            let max_age = u64::from(state.config.token_days) * 86_400;
            let cookie = session_cookie(&token, max_age, is_https(&headers));
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&home(&account))).into_response())
        }
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            login_page(StatusCode::UNAUTHORIZED, username, Some("用户名或密码不对，请重新输入"))
        }
        Err(AppError::Throttled { retry_after }) => {
            let page = login_page(StatusCode::TOO_MANY_REQUESTS, username, Some(&throttled_message(retry_after)))?;
            locked(page, retry_after)
        }
        Err(e) => Err(e.into()),
    }
}

/// A page refusing a throttled attempt, saying with `Retry-After` when to try again.
fn locked(mut page: Response, retry_after: std::time::Duration) -> Result<Response, PageError> {
    if let Ok(v) = HeaderValue::from_str(&throttle::seconds(retry_after).to_string()) {
        page.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(page)
}

async fn logout(State(state): State<AppState>, addr: ClientAddr, headers: HeaderMap) -> Result<Response, PageError> {
    same_origin(&headers)?;
    if let Some(token) = session_token(&headers) {
        auth::log_out(&state, addr, token).await?;
    }
    let https = is_https(&headers);
    let mut page = ([(header::SET_COOKIE, session_cookie("", 0, https))], Redirect::to("/login")).into_response();
    if https {
        // A session kept from before the HTTPS cookie had its `__Host-` name ends too.
        page.headers_mut().append(header::SET_COOKIE, session_cookie("", 0, false));
    }
    Ok(page)
}

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_again: String,
}

#[derive(Debug, Serialize)]
struct PasswordView<'a> {
    done: bool,
    error: Option<&'a str>,
}

fn password_page(status: StatusCode, viewer: &Viewer, view: &PasswordView<'_>) -> Result<Response, PageError> {
    Ok((status, render("password.html", "修改密码", Some(&viewer.info()), view)?).into_response())
}

async fn password_form(viewer: Viewer) -> Result<Response, PageError> {
    password_page(StatusCode::OK, &viewer, &PasswordView { done: false, error: None })
}

/// A password changed from the pages: as `POST /v1/auth/password`, with the session's token
/// (this form, like the login's, is checked to come from this site), and the new token put in
/// the session cookie.
async fn password_submit(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    same_origin(&headers)?;
    let Some(token) = session_token(&headers) else { return Ok(Redirect::to("/login").into_response()) };
    let Some(account) = state.db.account_for_token(token).await.map_err(AppError::from)? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let viewer = Viewer(auth::Caller { account, token: token.to_owned() });
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let refused = |status, error| password_page(status, &viewer, &PasswordView { done: false, error: Some(error) });
    if form.new_password != form.new_password_again {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "两次输入的新密码不一样，请重新输入");
    }
    match auth::change_password(&state, addr, &viewer.0, &form.old_password, &form.new_password).await {
        Ok((_, token)) => {
            let max_age = u64::from(state.config.token_days) * 86_400;
            let cookie = session_cookie(&token, max_age, is_https(&headers));
            let mut page = password_page(StatusCode::OK, &viewer, &PasswordView { done: true, error: None })?;
            page.headers_mut().insert(header::SET_COOKIE, cookie);
            Ok(page)
        }
        Err(AppError::Client { status, message, .. }) => refused(status, &message),
        Err(AppError::Throttled { retry_after }) => {
            locked(refused(StatusCode::TOO_MANY_REQUESTS, &throttled_message(retry_after))?, retry_after)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/login", get(show).post(submit))
        .route("/logout", post(logout))
        .route("/password", get(password_form).post(password_submit))
}
