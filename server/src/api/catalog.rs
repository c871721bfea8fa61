//! `GET /v1/catalog`: the catalog in force for the caller's township.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use zhibu_schema::Catalog;

use crate::auth::Caller;
use crate::error::AppResult;
use crate::state::AppState;

/// The catalog in force for the caller's township.
#[utoipa::path(
    get,
    path = "/v1/catalog",
    tag = "read",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "目录：积分规则、等级、会议要求、小微权力事项", body = crate::openapi::CatalogSchema),
        crate::openapi::SignedIn,
    )
)]
async fn catalog(State(state): State<AppState>, caller: Caller) -> AppResult<Json<Catalog>> {
    let c = state.catalog_for(caller.account.township_id.as_deref()).await?;
    Ok(Json((*c).clone()))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/catalog", get(catalog))
}
