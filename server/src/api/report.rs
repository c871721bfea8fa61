//! `GET /v1/townships/T/report?year=Y[&period=P]` and its CSV and XLSX exports. `period` is
//! `year` (default), `q1`..`q4`, or a month `1`..`12`.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use zhibu_schema::{Period, TownshipId};

use super::export;
use crate::auth::Caller;
use crate::db::report::TownshipReport;
use crate::error::{AppError, AppResult};
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The year; this year if absent.
    #[param(value_type = Option<i64>, minimum = 2000, maximum = 2100)]
    pub year: Option<String>,
    /// `year` (default), `q1` to `q4`, or a month `1` to `12`; or, as the report names its
    /// period, with its year in front: `2026`, `2026-q4`, `2026-11`.
    #[param(pattern = "^([0-9]{4}(-([qQ][1-4]|[mM]?(0?[1-9]|1[0-2])))?|year|[qQ][1-4]|[mM]?([1-9]|1[0-2]))$")]
    pub period: Option<String>,
}

pub fn parse_period(s: Option<&str>) -> AppResult<Period> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(Period::Year) };
    let lower = s.to_ascii_lowercase();
    let parsed = if lower == "year" {
        Some(Period::Year)
    } else if let Some(q) = lower.strip_prefix('q') {
        q.parse::<u8>().ok().filter(|q| (1..=4).contains(q)).map(Period::Quarter)
    } else {
        lower.trim_start_matches('m').parse::<u8>().ok().filter(|m| (1..=12).contains(m)).map(Period::Month)
    };
    parsed.ok_or_else(|| AppError::bad_request(format!("统计周期「{s}」不对，应为 year、q1 到 q4 或 1 到 12")))
}

/// The year and period a query names, each when it names one. The period may carry its year,
/// as the report itself names it (`2026-q4`, `2026-11`, `2026`): it must then be the `year`
/// asked for, if any.
pub fn named_year_and_period(
    year: Option<&str>,
    period: Option<&str>,
) -> AppResult<(Option<zhibu_schema::Year>, Option<Period>)> {
    let year = year.map(str::trim).filter(|y| !y.is_empty()).map(super::parse_year).transpose()?;
    let period = period.map(str::trim).filter(|p| !p.is_empty());
    match (year, period.and_then(Period::parse)) {
        (Some(asked), Some((named, _))) if asked != named => {
            Err(AppError::bad_request(format!("统计周期写的是 {named} 年，与 year={asked} 不一致")))
        }
        (_, Some((named, p))) => Ok((Some(named), Some(p))),
        (_, None) => Ok((year, period.map(|p| parse_period(Some(p))).transpose()?)),
    }
}

/// The report for a township, checked for the caller's right to read it.
pub async fn load(state: &AppState, caller: &Caller, township: &str, q: &ReportQuery) -> AppResult<TownshipReport> {
    let township = TownshipId::parse(township).map_err(|e| AppError::bad_request(e.to_string()))?;
    caller.require_township(township.as_str())?;
    if !state.db.township_exists(township.as_str()).await? {
        return Err(AppError::not_found(format!("乡镇「{township}」不存在")));
    }
    let (year, period) = named_year_and_period(q.year.as_deref(), q.period.as_deref())?;
    let (year, period) = (year.unwrap_or_else(super::this_year), period.unwrap_or(Period::Year));
    let as_of = super::as_of(year);
    let catalog = state.catalog_for(Some(township.as_str())).await?;
    let open_as_of = super::open_cases_as_of(year);
    Ok(state.db.township_report(township.as_str(), year, period, as_of, open_as_of, &catalog).await?)
}

/// The township report.
#[utoipa::path(
    get,
    path = "/v1/townships/{township}/report",
    tag = "report",
    params(("township" = String, Path, description = "乡镇编号", pattern = "^[a-z0-9-]{1,64}$", example = "demo"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "汇总", content_type = "application/json", body = crate::openapi::ReportSchema),
        crate::openapi::ReadErrors,
    )
)]
async fn json(
    State(state): State<AppState>,
    caller: Caller,
    Path(township): Path<String>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Json<TownshipReport>> {
    Ok(Json(load(&state, &caller, &township, &q).await?))
}

pub(crate) fn attachment(body: Vec<u8>, content_type: &'static str, filename: String) -> Response {
    let disposition = format!(
        "attachment; filename=\"report.{}\"; filename*=UTF-8''{}",
        filename.rsplit('.').next().unwrap_or("bin"),
        percent_encode(&filename)
    );
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// The township report as a file.
#[utoipa::path(
    get,
    path = "/v1/townships/{township}/report.csv",
    tag = "report",
    params(("township" = String, Path, description = "乡镇编号", pattern = "^[a-z0-9-]{1,64}$", example = "demo"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "汇总 CSV（UTF-8，带 BOM）", content_type = "text/csv", body = crate::openapi::BinarySchema),
        crate::openapi::ReadErrors,
    )
)]
async fn csv(
    State(state): State<AppState>,
    caller: Caller,
    Path(township): Path<String>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let report = load(&state, &caller, &township, &q).await?;
    let body = export::report_csv(&report).map_err(AppError::Internal)?;
    Ok(attachment(body, "text/csv; charset=utf-8", format!("{}-{}-汇总.csv", report.township_id, report.period)))
}

/// The township report as a file.
#[utoipa::path(
    get,
    path = "/v1/townships/{township}/report.xlsx",
    tag = "report",
    params(("township" = String, Path, description = "乡镇编号", pattern = "^[a-z0-9-]{1,64}$", example = "demo"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "汇总 XLSX", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = crate::openapi::BinarySchema),
        crate::openapi::ReadErrors,
    )
)]
async fn xlsx(
    State(state): State<AppState>,
    caller: Caller,
    Path(township): Path<String>,
    Query(q): Query<ReportQuery>,
) -> AppResult<Response> {
    let report = load(&state, &caller, &township, &q).await?;
    let body = export::report_xlsx(&report).map_err(AppError::Internal)?;
    Ok(attachment(
        body,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        format!("{}-{}-汇总.xlsx", report.township_id, report.period),
    ))
}

/// A download link of the dashboard followed by a browser whose session has ended: the login
/// page, as the pages answer, instead of a JSON error the clerk cannot act on. A program (a
/// bearer token, or no sign of a browser's navigation) still gets 401 and API.md's body.
async fn login_when_browsing(req: Request, next: Next) -> Response {
    let h = req.headers();
    let browsing = !h.contains_key(header::AUTHORIZATION)
        && (h.get("sec-fetch-mode").is_some_and(|v| v == "navigate")
            || h.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html")));
    let response = next.run(req).await;
    if browsing && response.status() == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    response
}

pub fn router() -> Router<AppState> {
    let files = Router::new()
        .route("/v1/townships/{township}/report.csv", get(csv))
        .route("/v1/townships/{township}/report.xlsx", get(xlsx))
        .route_layer(middleware::from_fn(login_when_browsing));
    Router::new().route("/v1/townships/{township}/report", get(json)).merge(files)
}
