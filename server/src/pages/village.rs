//! `/villages/{v}?year=`: a village's year for its township (and its cadres): the meeting
//! record book with every record and its attendance, the micro-power cases with their step
//! timelines and notices, and the roster with each member's score and grade.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use serde::Serialize;
use zhibu_schema::{Grade, Year, all_scores};

use super::case_view::{CaseView, cases};
use super::error::PageError;
use super::meeting_view::{MeetingView, meetings};
use super::record_changes::conflicts;
use super::session::Viewer;
use super::templates::render;
use super::village_data::{VillageData, YearQuery, load};
use crate::db::accounts::Role;
use crate::db::report::Cases;
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct MemberRow {
    id: String,
    name: String,
    group: Option<String>,
    status: &'static str,
    committee: bool,
    score: i32,
    grade: &'static str,
    /// The day the member left (or leaves) the branch.
    left_on: Option<String>,
    /// When the server first received a change of the member that rewrites past figures (a
    /// committee seat, a group, a status, a back-dated day) after it had them.
    edited_at: Option<String>,
}

/// Links every page about one village's year shares.
#[derive(Debug, Serialize)]
pub struct VillageLinks {
    pub village_id: String,
    pub name: String,
    pub year: i64,
    pub page: String,
    pub book: String,
    pub book_xlsx: String,
    /// The township dashboard, for those who may see it.
    pub dashboard: Option<String>,
    /// The years either side, when the server keeps them (2000 to 2100).
    pub previous_year: Option<i64>,
    pub next_year: Option<i64>,
}

impl VillageLinks {
    pub fn new(data: &VillageData, viewer: &Viewer) -> VillageLinks {
        let (v, y) = (&data.key.village, data.year());
        VillageLinks {
            village_id: v.to_string(),
            name: data.name.clone(),
            year: y,
            page: format!("/villages/{v}?year={y}"),
            book: format!("/villages/{v}/book?year={y}"),
            book_xlsx: format!("/villages/{v}/book.xlsx?year={y}"),
            dashboard: matches!(viewer.0.role(), Role::Township | Role::Admin)
                .then(|| format!("/township?township={}&year={y}", data.key.township)),
            previous_year: Year::new(y - 1).is_ok().then_some(y - 1),
            next_year: Year::new(y + 1).is_ok().then_some(y + 1),
        }
    }
}

#[derive(Debug, Serialize)]
struct VillageView {
    links: VillageLinks,
    meetings: Vec<MeetingView>,
    late_meetings: usize,
    early_meetings: usize,
    /// Valid meetings whose attendance leaves due members out (未记考勤).
    unmarked_meetings: usize,
    /// Valid meetings whose date or attendance changed after the server had them.
    edited_meetings: usize,
    /// The catalog's threshold of a late entry, in days.
    late_entry_days: u32,
    cases: Vec<CaseView>,
    cases_with_gaps: usize,
    members: Vec<MemberRow>,
    /// Each member's score and grade: shown to the village's own cadres, who post them. The
    /// township sees how many members have each grade (DOMAIN.md: points are posted to the
    /// member, the township sees grade distributions, no one a league table).
    scores_shown: bool,
    grades_text: String,
    /// The rules the records break as stored (记录矛盾), as the cadres are to correct them.
    problems: Vec<String>,
    /// Meetings of one kind (and party group) held the same day, each such day said once
    /// (疑似重复录入).
    duplicates: Vec<String>,
    /// Records with fields two phones set differently offline, linked to their history pages
    /// (which say the values and the one the record took).
    conflicts: Vec<ConflictLink>,
    /// Cases opened in an earlier year and still open: kept in that year's record.
    earlier_open_cases: Vec<EarlierCase>,
    /// The roster's members still in the branch (as the report's 党员人数 counts them), and
    /// those who had left it by today (by the year's end for a past year).
    members_here: usize,
    members_gone: usize,
}

/// A record with conflicting fields.
#[derive(Debug, Serialize)]
struct ConflictLink {
    what: String,
    fields: usize,
    url: String,
}

/// A case of an earlier year still open, linked to where it is kept.
#[derive(Debug, Serialize)]
struct EarlierCase {
    item_name: String,
    title: String,
    opened_on: String,
    gaps: Vec<String>,
    url: String,
}

/// Each day a kind of meeting (of one party group) was recorded more than once, live: most often
/// one meeting recorded on two phones while offline.
fn twins(records: &zhibu_schema::VillageYear) -> Vec<String> {
    let mut days: std::collections::BTreeMap<_, usize> = std::collections::BTreeMap::new();
    for (_, m) in records.live_meetings() {
        *days.entry((m.held_on, m.kind, m.group.as_ref().map(ToString::to_string))).or_default() += 1;
    }
    days.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|((on, kind, group), n)| {
            let group = group.map(|g| format!("（{g}）")).unwrap_or_default();
            format!("{on} {}{group}记了 {n} 次", kind.label())
        })
        .collect()
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(village): Path<String>,
    q: Result<Query<YearQuery>, AppError>,
) -> Result<Html<String>, PageError> {
    let Query(q) = q?;
    let data = load(&state, &viewer.0, &village, q.year()?).await?;
    let meetings = meetings(&data);
    let cases = cases(&data, data.open_cases_as_of());
    let (township, v) = (data.key.township.as_str(), data.key.village.as_str());
    let earlier_open_cases = state
        .db
        .case_items(township, Some(v), data.key.year, data.open_cases_as_of(), &data.catalog, Cases::EarlierOpen)
        .await?
        .into_iter()
        .map(|(_, c)| EarlierCase {
            url: format!("/villages/{v}?year={}#case-{}", c.year, c.case_id),
            gaps: c.gaps.iter().filter_map(|g| g.get("message")?.as_str().map(str::to_owned)).collect(),
            item_name: c.item_name,
            title: c.title,
            opened_on: c.opened_on,
        })
        .collect();
    let conflicted = |collection: &str, id: &str| conflicts(&data.automerge, collection, id).len();
    let conflicts: Vec<ConflictLink> = meetings
        .iter()
        .map(|m| {
            (format!("{} {}：{}", m.kind_label, m.held_on, m.topic), conflicted("meetings", &m.id), &m.history_url)
        })
        .chain(
            cases.iter().map(|c| (format!("{}：{}", c.item_name, c.title), conflicted("cases", &c.id), &c.history_url)),
        )
        .filter(|(_, fields, _)| *fields > 0)
        .map(|(what, fields, url)| ConflictLink { what, fields, url: url.clone() })
        .collect();
    let scores = all_scores(&data.records, &data.catalog);
    let graded = |g: Option<Grade>| scores.iter().filter(|s| s.grade == g && s.left_on.is_none()).count();
    let mut grades_text = format!(
        "优秀 {} 人，良好 {} 人，合格 {} 人，不合格 {} 人，预备党员（不评定）{} 人",
        graded(Some(Grade::Excellent)),
        graded(Some(Grade::Good)),
        graded(Some(Grade::Qualified)),
        graded(Some(Grade::Unqualified)),
        graded(None)
    );
    let left = scores.iter().filter(|s| s.left_on.is_some()).count();
    let gone_by = data.open_cases_as_of().min(data.key.year.last_day());
    let members_gone = data.records.members.values().filter(|m| m.left_on.is_some_and(|l| l <= gone_by)).count();
    if left > 0 {
        grades_text += &format!("，年内离开（不评定）{left} 人");
    }
    let members = scores
        .into_iter()
        .map(|s| {
            let m = data.records.member(&s.member_id);
            MemberRow {
                id: s.member_id.to_string(),
                name: s.name,
                group: m.and_then(|m| m.group.as_ref().map(ToString::to_string)),
                status: s.status.label(),
                committee: m.is_some_and(|m| m.committee),
                left_on: m.and_then(|m| m.left_on).map(|d| d.to_string()),
                score: s.total,
                grade: match (s.grade, s.left_on) {
                    (Some(g), _) => g.label(),
                    (None, Some(_)) => "年内离开，不评定",
                    (None, None) => "不评定",
                },
                edited_at: data.arrivals.members.get(s.member_id.as_str()).map(|&at| super::clock::format_ms(at)),
            }
        })
        .collect();
    // Back to the dashboard at the period it was opened from.
    let mut links = VillageLinks::new(&data, &viewer);
    if let (Some(dashboard), Some(period)) = (links.dashboard.as_mut(), q.period()) {
        dashboard.push_str(&format!("&period={period}"));
    }
    let view = VillageView {
        links,
        // As the report counts them: a voided meeting does not count.
        late_meetings: meetings.iter().filter(|m| m.late_days.is_some() && m.voided.is_none()).count(),
        early_meetings: meetings.iter().filter(|m| m.early_days.is_some() && m.voided.is_none()).count(),
        unmarked_meetings: meetings.iter().filter(|m| m.unmarked > 0 && m.voided.is_none()).count(),
        edited_meetings: meetings.iter().filter(|m| m.edited_at.is_some() && m.voided.is_none()).count(),
        late_entry_days: data.catalog.late_entry_days,
        cases_with_gaps: cases.iter().filter(|c| !c.gaps.is_empty()).count(),
        meetings,
        cases,
        members,
        scores_shown: viewer.0.role() == Role::Cadre,
        grades_text,
        problems: zhibu_schema::validate(&data.records, &data.catalog).iter().map(ToString::to_string).collect(),
        duplicates: twins(&data.records),
        conflicts,
        earlier_open_cases,
        members_here: data.records.members.len() - members_gone,
        members_gone,
    };
    let title = format!("{} {} 年记录", data.name, data.year());
    render("village.html", &title, Some(&viewer.info()), &view)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/villages/{village}", get(page))
}
