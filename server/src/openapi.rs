//! The OpenAPI description of the HTTP API (API.md and the README's additions), generated from
//! the handlers' `#[utoipa::path]` annotations and served at `GET /v1/openapi.json`. The web
//! pages are not part of it.
//!
//! Types the API returns whose definitions live outside the handlers (accounts, the catalog,
//! the report) are described here; a test checks that every route of API.md is listed.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::state::AppState;

/// API.md's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `unauthorized`, `forbidden`, `invalid_records`, `unavailable`.
    pub code: String,
    /// What went wrong, in Chinese, for a person.
    pub message: String,
    /// With `invalid_records` (422): each record that broke a rule.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violations: Option<Vec<serde_json::Value>>,
}

/// `GET /healthz` when the database answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `POST /v1/auth/login`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginRequest {
    #[schema(max_length = 64)]
    pub username: String,
    #[schema(max_length = 256)]
    pub password: String,
}

/// A login: the token to send as `Authorization: Bearer` and the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub account: AccountSchema,
}

/// `POST /v1/auth/logout`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedOut {
    pub ok: bool,
}

/// `POST /v1/admin/accounts/{account}/revoke`: how many live tokens were ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    #[schema(minimum = 0)]
    pub revoked: u64,
}

/// An account as the login returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountSchema {
    pub id: String,
    /// `cadre`, `township`, `member` or `admin`.
    #[schema(pattern = "^(cadre|township|member|admin)$")]
    pub role: String,
    pub township_id: Option<String>,
    pub village_id: Option<String>,
    pub member_id: Option<String>,
    pub display_name: Option<String>,
}

/// The catalog in force: point rules, grade bands, meeting requirements, micro-power items.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Catalog, value_type = Object)]
pub struct CatalogSchema(pub serde_json::Value);

/// The township report: per village, meetings against requirements, grades, case gaps, late
/// entries, last sync.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TownshipReport, value_type = Object)]
pub struct ReportSchema(pub serde_json::Value);

/// Bytes: an Automerge sync message or document, or CBOR.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Binary, value_type = String, format = Binary)]
pub struct BinarySchema(pub Vec<u8>);

/// Adds the bearer token scheme.
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "zhibu",
        description = "支部：村党支部的离线优先记录。API.md is the contract; the fast path is described in the README."
    ),
    paths(
        crate::api::health::healthz,
        crate::auth::login,
        crate::auth::logout,
        crate::auth::revoke,
        crate::api::catalog::catalog,
        crate::api::sync::standard,
        crate::api::sync::fast,
        crate::api::docs::doc,
        crate::api::points::points,
        crate::api::report::json,
        crate::api::report::csv,
        crate::api::report::xlsx,
        openapi_json,
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// The description as JSON, made once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().expect("the OpenAPI description serializes"))
}

/// This description.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI description of this API", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json()).into_response()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(openapi_json))
}
