//! The one stylesheet, embedded in the binary. It is the only asset: the pages use no
//! JavaScript, no web fonts and no images (the grade bars are inline SVG).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const SITE_CSS: &str = include_str!("../../assets/site.css");

async fn site_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], SITE_CSS)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/site.css", get(site_css))
}
