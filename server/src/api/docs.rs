//! `GET /v1/villages/V/years/Y/doc`: the whole document as saved Automerge bytes.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::Access;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The whole village-year document as saved Automerge bytes.
#[utoipa::path(
    get,
    path = "/v1/villages/{village}/years/{year}/doc",
    tag = "read",
    params(
        ("village" = String, Path, description = "村编号", pattern = "^[a-z0-9-]{1,64}$", example = "demo-1"),
        ("year" = i64, Path, description = "年度", minimum = 2000, maximum = 2100),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "保存的 Automerge 文档", content_type = "application/octet-stream", body = crate::openapi::BinarySchema),
        crate::openapi::ReadErrors,
    )
)]
async fn doc(
    State(state): State<AppState>,
    caller: Caller,
    Path((village, year)): Path<(String, String)>,
) -> AppResult<Response> {
    let key = super::doc_key(&state, &caller, Access::Read, &village, &year).await?;
    let loaded = state.load_doc(&key).await?;
    if loaded.version == 0 {
        return Err(AppError::not_found(format!("村「{}」{} 年还没有任何记录", key.village, key.year)));
    }
    let bytes = loaded.doc.save();
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], bytes).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/villages/{village}/years/{year}/doc", get(doc))
}
