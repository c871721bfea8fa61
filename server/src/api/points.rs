//! `GET /v1/me/points?year=Y`: a member's own points, computed by the same function the
//! phones use. Only the caller's own: there is no way to ask for another member's.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use zhibu_schema::{Catalog, MemberId, MemberScore, VillageId, mapping, member_score};

use crate::auth::Caller;
use crate::db::accounts::Role;
use crate::db::documents::DocKey;
use crate::error::{AppError, AppResult};
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct YearQuery {
    /// The year; this year if absent.
    #[param(value_type = Option<i64>, minimum = 2000, maximum = 2100)]
    pub year: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsEntry {
    pub on: String,
    pub rule: String,
    pub rule_name: String,
    pub delta: i32,
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A meeting the member was on approved leave from (请假): worth nothing either way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaveEntry {
    pub on: String,
    /// The meeting's kind and topic.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The reason and approver as the member reads them.
    #[serde(skip)]
    pub described: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyPoints {
    pub member_id: String,
    pub name: String,
    pub village_id: String,
    pub year: i64,
    pub base: i32,
    pub total: i32,
    pub grade: Option<&'static str>,
    pub grade_name: Option<&'static str>,
    /// The day the member left the branch during the year (why `grade` is null): an extension
    /// of API.md, absent for a member still in the branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_on: Option<String>,
    pub entries: Vec<PointsEntry>,
    /// The meetings the member was on leave from, by date (an extension of API.md).
    pub leaves: Vec<LeaveEntry>,
}

impl MyPoints {
    pub fn new(score: MemberScore, village: &VillageId, year: i64, catalog: &Catalog) -> Self {
        MyPoints {
            member_id: score.member_id.to_string(),
            name: score.name,
            village_id: village.to_string(),
            year,
            base: score.base,
            total: score.total,
            grade: score.grade.map(|g| g.code()),
            grade_name: score.grade.map(|g| g.label()),
            left_on: score.left_on.map(|d| d.to_string()),
            entries: score
                .entries
                .into_iter()
                .map(|e| PointsEntry {
                    on: e.on.to_string(),
                    rule_name: catalog.rule(e.rule.as_str()).map_or_else(|| e.rule.to_string(), |r| r.name.to_string()),
                    rule: e.rule.to_string(),
                    delta: e.delta,
                    source: e.source.code(),
                    note: e.note,
                })
                .collect(),
            leaves: score
                .leaves
                .into_iter()
                .map(|l| LeaveEntry {
                    on: l.on.to_string(),
                    described: l.described(),
                    what: l.what,
                    reason: l.reason,
                    approved_by: l.approved_by,
                })
                .collect(),
        }
    }
}

/// The caller's own points for a year (member accounts only).
pub async fn my_points(state: &AppState, caller: &Caller, year: Option<&str>) -> AppResult<MyPoints> {
    let a = &caller.account;
    let (Role::Member, Some(village), Some(member), Some(township)) =
        (a.role, a.village_id.as_deref(), a.member_id.as_deref(), a.township_id.as_deref())
    else {
        return Err(AppError::forbidden("只有党员账号可以查看本人积分"));
    };
    let year = match year {
        Some(y) => super::parse_year(y)?,
        None => super::this_year(),
    };
    let village = VillageId::parse(village).map_err(|e| AppError::Internal(e.into()))?;
    let member = MemberId::parse(member).map_err(|e| AppError::Internal(e.into()))?;
    let key = DocKey { township: township.to_owned(), village: village.clone(), year };
    let catalog = state.catalog_for(Some(township)).await?;
    let loaded = state.load_doc(&key).await?;
    let not_found = || AppError::not_found(format!("{year} 年的党员名册上没有您的记录"));
    let records = mapping::read(loaded.doc.as_ref()).map_err(|_| not_found())?.doc;
    let score = member_score(&records, &catalog, &member).ok_or_else(not_found)?;
    Ok(MyPoints::new(score, &village, i64::from(year), &catalog))
}

/// The caller's own points for a year (member accounts).
#[utoipa::path(
    get,
    path = "/v1/me/points",
    tag = "read",
    params(YearQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "本人积分", body = MyPoints),
        crate::openapi::ReadErrors,
    )
)]
async fn points(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<YearQuery>,
) -> AppResult<Json<MyPoints>> {
    Ok(Json(my_points(&state, &caller, q.year.as_deref()).await?))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/me/points", get(points))
}
