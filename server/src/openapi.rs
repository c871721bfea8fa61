//! The OpenAPI description of the HTTP API (API.md and docs/API-EXTENSIONS.md), generated from
//! the handlers' `#[utoipa::path]` annotations and served at `GET /v1/openapi.json`. The web
//! pages are not part of it.
//!
//! Types the API returns whose definitions live outside the handlers (accounts, the catalog,
//! the report) are described here; a test checks that every route of API.md is listed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as ApiResponse, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

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

/// Every error status the API answers with, and what it means to the person reading the
/// description: one place, so the same status reads the same on every call.
const ERRORS: [(u16, &str); 10] = [
    (400, "请求不对（编号、年份、参数或内容）"),
    (401, "未登录或令牌已失效"),
    (403, "本账号无权这样做"),
    (404, "不存在"),
    (409, "该村的记录正被频繁修改，稍后重试"),
    (413, "请求内容太大"),
    (415, "请求内容类型不对"),
    (422, "修改不合规，未保存"),
    (429, "登录失败次数过多，Retry-After 秒后再试"),
    (503, "数据库暂时无法访问，稍后重试"),
];

/// The error responses of `statuses`, each with [`ErrorBody`].
fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<ApiResponse>> {
    statuses
        .iter()
        .map(|status| {
            // A set naming a status missing from ERRORS fails the description's test, not a caller.
            let &(_, description) =
                ERRORS.iter().find(|(s, _)| s == status).expect("every error status is described in ERRORS");
            let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", body).build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// The sets of error statuses the calls answer with, for their `#[utoipa::path]` responses.
macro_rules! error_sets {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+];)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
                error_responses(&[$($status),+])
            }
        }
    )+};
}

error_sets! {
    /// A call that needs only the database.
    Unavailable = [503];
    /// A call that needs a valid token and nothing else.
    SignedIn = [401, 503];
    /// The login.
    LoginErrors = [400, 401, 413, 415, 429, 503];
    /// A password change: the old password is checked as a login is.
    PasswordErrors = [400, 401, 403, 413, 415, 422, 429, 503];
    /// A call on a named thing the caller may not be allowed to touch.
    ReadErrors = [400, 401, 403, 404, 503];
    /// The administrator's calls on an account.
    AdminErrors = [401, 403, 404, 503];
    /// The standard Automerge sync of one document.
    SyncErrors = [400, 401, 403, 404, 409, 413, 415, 422, 503];
    /// The phones' fast path: a document's refusal is in the reply, not in the status.
    FastSyncErrors = [400, 401, 409, 413, 415, 503];
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

/// `POST /v1/auth/password`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChange {
    #[schema(max_length = 256)]
    pub old_password: String,
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
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
        description = "支部：村党支部的离线优先记录。API.md is the contract; the fast path is described in docs/API-EXTENSIONS.md."
    ),
    paths(
        crate::api::health::healthz,
        crate::auth::login,
        crate::auth::logout,
        crate::auth::password,
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
    components(schemas(ErrorBody)),
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
