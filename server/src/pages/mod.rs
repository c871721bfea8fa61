//! The web pages, in simplified Chinese, rendered on the server: the login page, the township
//! dashboard, a village's records (with the printable meeting record book and its XLSX), a
//! record's change history, and a member's own points. No JavaScript: every page works with
//! links and plain forms.
//!
//! Invariants: a page shows exactly what the API would give the same caller (the access checks
//! are `Caller`'s, the figures are the report's and zhibu-schema's); anonymous visitors are sent
//! to `/login`; refusals are a Chinese error page, never another village's data. Every page
//! response carries a Content-Security-Policy without any script, `X-Frame-Options: DENY` and
//! `Cache-Control: no-store`, as every answer of the server (the stylesheet alone may be cached).

mod assets;
mod book;
mod case_view;
pub(crate) mod clock;
mod dashboard;
mod error;
mod field_labels;
mod history;
mod login;
mod me;
mod meeting_view;
mod record_changes;
mod session;
mod templates;
mod village;
mod village_data;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

pub use error::PageError;

const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(login::router())
        .merge(dashboard::router())
        .merge(village::router())
        .merge(book::router())
        .merge(history::router())
        .merge(me::router())
        .merge(assets::router())
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
}
