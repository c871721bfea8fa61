//! `/township?year=&period=`: the township's dashboard. For the chosen period, a matrix of
//! villages × meeting kinds (valid meetings against required, red where a period has ended
//! short, ⚠ where an assembly or committee meeting missed its quorum), and per village the late
//! entries (补录), cases with gaps, the members' grades as a small bar and the days since the
//! last sync (highlighted past 7 days). Figures are the township report's (`report::load`),
//! so the page, the JSON and the exports never disagree.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use zhibu_schema::{Cadence, MeetingKind, Period};

use super::clock;
use super::error::PageError;
use super::session::Viewer;
use super::templates::render;
use crate::api;
use crate::api::report::{ReportQuery, load};
use crate::db::accounts::Role;
use crate::db::report::{GradeCounts, VillageReport};
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;

/// A village whose last sync is older than this many days is highlighted.
const STALE_AFTER_DAYS: i64 = 7;

#[derive(Debug, Default, Deserialize)]
struct DashboardQuery {
    township: Option<String>,
    year: Option<String>,
    period: Option<String>,
}

#[derive(Debug, Serialize)]
struct Cell {
    kind: &'static str,
    text: String,
    /// `behind`, `pending`, `met` or `none` (nothing required or held).
    state: &'static str,
    title: String,
    quorum_failures: usize,
}

#[derive(Debug, Serialize)]
struct Bar {
    class: &'static str,
    label: &'static str,
    count: i64,
    x: f64,
    width: f64,
}

#[derive(Debug, Serialize)]
struct VillageRow {
    id: String,
    name: String,
    url: String,
    behind: usize,
    /// The village holds no record of a year under way or past (no roster imported, no phone
    /// synced): nothing shows as required, which must not read as nothing owed.
    no_records: bool,
    /// The year's records exist but its roster is empty (nobody imported or carried it over).
    roster_empty: bool,
    /// The roster has enough full members to elect a committee but marks nobody on it.
    committee_unmarked: bool,
    cells: Vec<Cell>,
    late: usize,
    early: usize,
    /// Meetings of the period whose attendance leaves due members out (未记考勤).
    unmarked: usize,
    /// Meetings of the period whose date or attendance changed after the server had them.
    edited: usize,
    cases: usize,
    /// Members changed after sync in a way that rewrites past figures.
    roster_edits: usize,
    /// Rules the village's records break as stored (记录矛盾).
    record_problems: usize,
    /// Meetings of one kind held the same day, in the period (疑似重复录入).
    duplicates: usize,
    members: i64,
    /// Members of the year's roster gone from the branch by the report's day.
    members_left: i64,
    grades: Vec<Bar>,
    grades_text: String,
    sync_text: String,
    sync_title: String,
    sync_stale: bool,
}

#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Debug, Serialize)]
struct Flag {
    village: String,
    url: String,
    what: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DashboardView {
    township_id: String,
    township_name: String,
    year: i64,
    period_label: String,
    as_of: String,
    years: Vec<Choice>,
    periods: Vec<Choice>,
    /// Each kind's name, with the span it is counted over when that is longer than the chosen
    /// period (a quarterly assembly, looked at by month, is counted over its quarter).
    kinds: Vec<String>,
    villages: Vec<VillageRow>,
    flags: Vec<Flag>,
    /// A cell of a period under way is not yet met.
    pending: bool,
    /// The township's days after which an entry is late (补录), for the column's explanation.
    late_entry_days: u32,
    csv_url: String,
    xlsx_url: String,
}

#[derive(Debug, Serialize)]
struct TownshipsView {
    townships: Vec<(String, String)>,
}

fn period_value(p: Period) -> String {
    match p {
        Period::Year => "year".to_owned(),
        Period::Quarter(q) => format!("q{q}"),
        Period::Month(m) => format!("m{m}"),
    }
}

/// What a village with no record of the year shows: nothing required would read as nothing owed.
const NO_RECORDS: &str = "本年度没有任何记录（名册未导入，手机也未同步）";

/// A kind's column heading: its name, and the span its figures cover when the kind is owed
/// over a longer one than the chosen period (本季度, 全年).
fn kind_heading(kind: MeetingKind, cadence: Option<Cadence>, period: Period) -> String {
    match cadence.and_then(|c| c.span_beyond(period)) {
        Some(span) => format!("{}（按{span}计）", kind.label()),
        None => kind.label().to_owned(),
    }
}

fn cell(v: &VillageReport, kind: MeetingKind, no_records: bool) -> Cell {
    if no_records {
        let title = format!("{}：{NO_RECORDS}", kind.label());
        return Cell { kind: kind.code(), text: "无记录".to_owned(), state: "behind", title, quorum_failures: 0 };
    }
    let rows: Vec<_> = v.summary.iter().filter(|s| s.kind == kind).collect();
    let (valid, held, required) = rows.iter().fold((0, 0, 0), |(a, b, c), s| (a + s.valid, b + s.held, c + s.required));
    let counted: i64 = rows.iter().map(|s| s.counted).sum();
    let quorum_failures = rows.iter().map(|s| s.quorum_failures.len()).sum();
    let behind: Vec<String> =
        rows.iter().filter(|s| s.behind).map(|s| s.group.clone().unwrap_or_else(|| kind.label().to_owned())).collect();
    let state = if !behind.is_empty() {
        "behind"
    } else if rows.iter().any(|s| s.pending) {
        "pending"
    } else if required == 0 && held == 0 {
        "none"
    } else {
        "met"
    };
    let mut title = format!("{}：应开 {required} 次，已开 {held} 次，有效 {valid} 次", kind.label());
    if counted < valid {
        title.push_str(&format!("，计入 {counted} 次（一期多开的不抵其他期）"));
    }
    match state {
        "behind" => title.push_str(&format!("；未达标：{}", behind.join("、"))),
        "pending" => title.push_str("；本期尚未结束"),
        _ => {}
    }
    if quorum_failures > 0 {
        title.push_str(&format!("；{quorum_failures} 次会议未达到法定人数，不计入"));
    }
    Cell {
        kind: kind.code(),
        text: if state == "none" { "—".to_owned() } else { format!("{counted}/{required}") },
        state,
        title,
        quorum_failures,
    }
}

/// The grade distribution as the segments of a 100-wide bar.
fn grade_bars(g: &GradeCounts) -> Vec<Bar> {
    let parts = [
        ("excellent", "优秀", g.excellent),
        ("good", "良好", g.good),
        ("qualified", "合格", g.qualified),
        ("unqualified", "不合格", g.unqualified),
        ("ungraded", "预备党员（不评定）", g.ungraded),
        ("left", "年内离开（不评定）", g.left),
    ];
    let total: i64 = parts.iter().map(|p| p.2).sum();
    let mut x = 0.0;
    parts
        .into_iter()
        .filter(|p| p.2 > 0)
        .map(|(class, label, count)| {
            let width = 100.0 * count as f64 / total as f64;
            let bar = Bar { class, label, count, x, width };
            x += width;
            bar
        })
        .collect()
}

fn row(v: &VillageReport, year: i64, period: &str) -> VillageRow {
    let late = v.late_in_period;
    let no_records = !v.has_records && year <= i64::from(api::this_year());
    let (sync_text, sync_title, sync_stale) = match &v.last_sync_at {
        None => ("从未同步".to_owned(), "本村还没有手机同步过本年度的记录".to_owned(), true),
        Some(at) => {
            let days = clock::days_since(at).unwrap_or(0).max(0);
            let text = if days == 0 { "今天".to_owned() } else { format!("{days} 天前") };
            (text, format!("最近同步：{}", clock::format_rfc3339(at)), days > STALE_AFTER_DAYS)
        }
    };
    let g = &v.grades;
    VillageRow {
        id: v.village_id.clone(),
        name: v.name.clone(),
        url: format!("/villages/{}?year={year}&period={period}", v.village_id),
        behind: v.behind,
        no_records,
        roster_empty: v.has_records && v.members == 0,
        // Owed committee meetings (the branch is large enough) with nobody marked on it.
        committee_unmarked: v.committee_members == 0
            && v.compliance.iter().any(|c| c.kind == MeetingKind::BranchCommittee && c.required > 0),
        cells: MeetingKind::ALL.into_iter().map(|k| cell(v, k, no_records)).collect(),
        late,
        early: v.early_in_period,
        unmarked: v.unmarked_in_period,
        edited: v.edited_in_period,
        cases: v.cases_in_period,
        roster_edits: v.roster_edits.len(),
        record_problems: v.record_problems.len(),
        duplicates: v.duplicates_in_period,
        members: v.members,
        members_left: v.members_left,
        grades: grade_bars(g),
        grades_text: {
            let mut text = format!(
                "优秀 {}，良好 {}，合格 {}，不合格 {}，预备党员 {}",
                g.excellent, g.good, g.qualified, g.unqualified, g.ungraded
            );
            if g.left > 0 {
                text += &format!("，年内离开 {}", g.left);
            }
            text
        },
        sync_text,
        sync_title,
        sync_stale,
    }
}

/// What a village is behind on, in words, for the list above the matrix.
fn flag(v: &VillageRow) -> Option<Flag> {
    let mut what: Vec<String> = match v.no_records {
        true => vec![NO_RECORDS.to_owned()],
        false => v
            .cells
            .iter()
            .zip(MeetingKind::ALL)
            .filter(|(c, _)| c.state == "behind")
            .map(|(_, k)| format!("{}未达标", k.label()))
            .collect(),
    };
    if v.roster_empty {
        what.push("名册为空：应到人数、法定人数和支委会、党小组会无从计算，请导入本年度名册".to_owned());
    }
    if v.committee_unmarked {
        what.push("名册未标出支委：支部委员会的会议无法计算法定人数（按已开计），请在名册中标出支委".to_owned());
    }
    for (c, k) in v.cells.iter().zip(MeetingKind::ALL) {
        if c.quorum_failures > 0 {
            what.push(format!("{} {} 次未达法定人数", k.label(), c.quorum_failures));
        }
    }
    if v.late > 0 {
        what.push(format!("补录 {} 条", v.late));
    }
    if v.early > 0 {
        what.push(format!("提前录入 {} 条", v.early));
    }
    if v.unmarked > 0 {
        what.push(format!("{} 次会议有应到党员未记考勤", v.unmarked));
    }
    if v.edited > 0 {
        what.push(format!("{} 次会议同步后改过日期或考勤", v.edited));
    }
    if v.roster_edits > 0 {
        what.push(format!("名册在同步后改动 {} 人（会改变以往会议的应到人数和法定人数，见村页面）", v.roster_edits));
    }
    if v.duplicates > 0 {
        what.push(format!(
            "{} 处同一天的同类会议记了不止一次（疑似两部手机重复录入，会重复计数，见村页面）",
            v.duplicates
        ));
    }
    if v.record_problems > 0 {
        what.push(format!(
            "{} 处记录自相矛盾（多为两部手机离线修改同一记录所致，请村干部更正，见村页面）",
            v.record_problems
        ));
    }
    if v.cases > 0 {
        what.push(format!("{} 件小微权力事项有问题", v.cases));
    }
    if v.sync_stale {
        what.push(format!("同步：{}", v.sync_text));
    }
    (!what.is_empty()).then(|| Flag { village: v.name.clone(), url: v.url.clone(), what })
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    q: Result<Query<DashboardQuery>, AppError>,
) -> Result<Response, PageError> {
    let Query(q) = q?;
    let caller = &viewer.0;
    let township = match (q.township.clone().filter(|t| !t.is_empty()), caller.account.township_id.clone()) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) if caller.role() == Role::Admin => {
            let view = TownshipsView { townships: state.db.townships().await? };
            return Ok(render("townships.html", "选择乡镇", Some(&viewer.info()), &view)?.into_response());
        }
        (None, None) => return Err(AppError::forbidden("本账号无权查看乡镇汇总").into()),
    };
    let this_year = api::this_year();
    let (year, period) = api::report::named_year_and_period(q.year.as_deref(), q.period.as_deref())?;
    let year = year.unwrap_or(this_year);
    // The current quarter by default; a whole past or future year.
    let period = match period {
        Some(p) => p,
        None if year == this_year => Period::Quarter(api::today().quarter()),
        None => Period::Year,
    };
    let query = ReportQuery { year: Some(year.to_string()), period: Some(period_value(period)) };
    let report = load(&state, caller, &township, &query).await?;
    let catalog = state.catalog_for(Some(&township)).await?;
    let township_name = state
        .db
        .townships()
        .await?
        .into_iter()
        .find(|(id, _)| *id == township)
        .map_or_else(|| township.clone(), |(_, name)| name);

    let y = report.year;
    let villages: Vec<VillageRow> = report.villages.iter().map(|v| row(v, y, &period_value(period))).collect();
    let mut periods = vec![Period::Year];
    periods.extend((1..=4).map(Period::Quarter));
    periods.extend((1..=12).map(Period::Month));
    let files = format!("year={y}&period={}", period_value(period));
    let view = DashboardView {
        flags: villages.iter().filter_map(flag).collect(),
        pending: villages.iter().flat_map(|v| &v.cells).any(|c| c.state == "pending"),
        villages,
        township_name,
        year: y,
        period_label: period.label(),
        // A past year's figures are those of the whole year, not of the day after it ended.
        as_of: match year < this_year {
            true => format!("按 {y} 年全年计算"),
            false => format!("按 {} 计算", report.as_of),
        },
        years: (i64::from(this_year) - 4..=i64::from(this_year) + 1)
            .rev()
            .map(|v| Choice { value: v.to_string(), label: format!("{v} 年"), selected: v == y })
            .collect(),
        periods: periods
            .into_iter()
            .map(|p| Choice { value: period_value(p), label: p.label(), selected: p == period })
            .collect(),
        kinds: MeetingKind::ALL
            .iter()
            .map(|k| kind_heading(*k, catalog.requirement(*k).map(|r| r.cadence), period))
            .collect(),
        late_entry_days: report.late_entry_days,
        csv_url: format!("/v1/townships/{township}/report.csv?{files}"),
        xlsx_url: format!("/v1/townships/{township}/report.xlsx?{files}"),
        township_id: township,
    };
    let title = format!("{} {} 年{}汇总", view.township_name, y, view.period_label);
    Ok(render("dashboard.html", &title, Some(&viewer.info()), &view)?.into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/township", get(page))
}
