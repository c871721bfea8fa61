//! `GET /healthz`: 200 when the database answers, 503 when it does not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

/// Whether the server can reach its database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "数据库可访问", body = crate::openapi::Health),
        crate::openapi::Unavailable,
    )
)]
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.db.ping().await {
        (StatusCode::OK, Json(json!({"status": "ok"})))
    } else {
        let body = crate::error::error_body("unavailable", "数据库无法访问");
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}
