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
        false => Err(AppError::forbidden("该表单来自其他网站，已拒绝。请在本站的登录页登录或退出").into()),
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
            let mut page = login_page(StatusCode::TOO_MANY_REQUESTS, username, Some(&throttled_message(retry_after)))?;
            if let Ok(v) = HeaderValue::from_str(&throttle::seconds(retry_after).to_string()) {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(State(state): State<AppState>, addr: ClientAddr, headers: HeaderMap) -> Result<Response, PageError> {
    same_origin(&headers)?;
    if let Some(token) = session_token(&headers) {
        auth::log_out(&state, addr, token).await?;
    }
    let cookie = session_cookie("", 0, is_https(&headers));
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(root)).route("/login", get(show).post(submit)).route("/logout", post(logout))
}
