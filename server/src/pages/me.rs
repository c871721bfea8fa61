//! `/me?year=`: a member's own points (合格党员积分) on a phone: score, grade, and every entry
//! with where it came from. The figures are `GET /v1/me/points`'s, for the caller's own member
//! id only; nothing about any other member is on the page.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use serde::Serialize;

use super::error::PageError;
use super::session::Viewer;
use super::templates::render;
use super::village_data::YearQuery;
use crate::api::points::{MyPoints, my_points};
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct Entry {
    on: String,
    rule_name: String,
    delta: String,
    sign: &'static str,
    source: &'static str,
    note: Option<String>,
    /// A meeting attended, worth nothing either way: folded on the page.
    #[serde(skip)]
    attended: bool,
}

#[derive(Debug, Serialize)]
struct Leave {
    on: String,
    what: String,
    described: String,
}

#[derive(Debug, Serialize)]
struct MeView {
    name: String,
    village: String,
    year: i64,
    base: i32,
    total: i32,
    grade: Option<&'static str>,
    grade_code: Option<&'static str>,
    /// The day the member left the branch during the year: why there is no grade.
    left_on: Option<String>,
    /// The entries that move the score.
    entries: Vec<Entry>,
    /// Meetings attended, which neither add nor take away (about thirty a year): folded
    /// together under the others, so that the few that count are not lost among them.
    attended: Vec<Entry>,
    /// Meetings the member was on leave from (请假), with the reason: folded like `attended`.
    leaves: Vec<Leave>,
    previous_year: Option<i64>,
    next_year: Option<i64>,
    /// Why another year than the one asked for shows.
    notice: Option<String>,
    /// What each grade takes, as the township's catalog sets it (90 分及以上为优秀, …).
    bands: String,
}

impl MeView {
    fn new(p: MyPoints, village: String) -> MeView {
        let this_year = i64::from(crate::api::this_year());
        // Only meetings attended are folded: an absence is shown whatever it costs.
        let (attended, entries): (Vec<Entry>, Vec<Entry>) = p
            .entries
            .into_iter()
            .map(|e| Entry {
                attended: e.delta == 0 && e.rule == zhibu_schema::catalog::ATTEND_PRESENT,
                on: e.on,
                rule_name: e.rule_name,
                delta: if e.delta > 0 { format!("+{}", e.delta) } else { e.delta.to_string() },
                sign: match e.delta {
                    d if d > 0 => "plus",
                    0 => "zero",
                    _ => "minus",
                },
                source: if e.source == "attendance" { "按考勤" } else { "村干部录入" },
                note: e.note,
            })
            .partition(|e| e.attended);
        let leaves = p.leaves.into_iter().map(|l| Leave { on: l.on, what: l.what, described: l.described }).collect();
        MeView {
            entries,
            attended,
            leaves,
            name: p.name,
            village,
            year: p.year,
            base: p.base,
            total: p.total,
            grade: p.grade_name,
            grade_code: p.grade,
            left_on: p.left_on,
            previous_year: zhibu_schema::Year::new(p.year - 1).is_ok().then_some(p.year - 1),
            next_year: (p.year < this_year).then_some(p.year + 1),
            notice: None,
            bands: String::new(),
        }
    }
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<YearQuery>, AppError>,
) -> Result<Html<String>, PageError> {
    let Query(q) = q?;
    let year = q.year()?;
    let (points, notice) = match my_points(&state, &viewer.0, Some(&year.to_string())).await {
        // Early in a year the village may not have synced its new roster yet: the home page
        // shows last year's points, saying so, rather than an error to loop on.
        Err(e) if q.year.is_none() && e.status() == axum::http::StatusCode::NOT_FOUND => {
            let last = i64::from(year) - 1;
            match my_points(&state, &viewer.0, Some(&last.to_string())).await {
                Ok(p) => (
                    p,
                    Some(format!(
                        "{year} 年的党员名册上还没有您的记录（村里可能还没有同步今年的名册），先显示 {last} 年的积分。"
                    )),
                ),
                Err(_) => return Err(e.into()),
            }
        }
        other => (other?, None),
    };
    let view_village_id = points.village_id.clone();
    let village = state.db.village_name(&points.village_id).await?.unwrap_or_else(|| points.village_id.clone());
    let catalog = state.catalog_for(viewer.0.account.township_id.as_deref()).await?;
    let view = MeView { notice, bands: bands(&catalog), ..MeView::new(points, village) };
    // A year before the member's first on the roster would only answer "not found".
    let account = &viewer.0.account;
    let earlier = match (view.previous_year, &account.township_id, &account.member_id) {
        (Some(y), Some(township), Some(member)) => {
            let year = zhibu_schema::Year::new(y).map_err(|e| AppError::Internal(e.into()))?;
            state.db.member_on_roster(township, &view_village_id, year, member).await?
        }
        _ => false,
    };
    // Shown in place of this year's, which lacks the member: no link to it either.
    let next_year = view.next_year.filter(|_| view.notice.is_none());
    let view = MeView { previous_year: view.previous_year.filter(|_| earlier), next_year, ..view };
    render("me.html", "我的积分", Some(&viewer.info()), &view)
}

/// The grades' bands in words: 90 分及以上优秀，80 到 89 分良好, ….
fn bands(catalog: &zhibu_schema::Catalog) -> String {
    let band = |b: &zhibu_schema::catalog::GradeBand| {
        let range = match (b.min, b.max) {
            (Some(min), Some(max)) => format!("{min} 到 {max} 分"),
            (Some(min), None) => format!("{min} 分及以上"),
            (None, Some(max)) => format!("{max} 分及以下"),
            (None, None) => "任何分数".to_owned(),
        };
        format!("{range}为{}", b.grade.label())
    };
    let mut bands: Vec<&zhibu_schema::catalog::GradeBand> = catalog.grades.iter().collect();
    bands.sort_by_key(|b| std::cmp::Reverse(b.min.unwrap_or(i32::MIN)));
    bands.into_iter().map(band).collect::<Vec<_>>().join("，")
}

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(page))
}
