//! The meeting record book (会议记录本) of a village's year: `/villages/{v}/book?year=`, a page
//! made for printing (every record in full, a section per meeting kind), and
//! `/villages/{v}/book.xlsx?year=`, the same records with a sheet per meeting kind.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, Response};
use axum::routing::get;
use rust_xlsxwriter::{Format, Workbook};
use serde::Serialize;

use super::error::PageError;
use super::meeting_view::{MeetingView, by_kind, meetings};
use super::session::Viewer;
use super::templates::render;
use super::village::VillageLinks;
use super::village_data::{YearQuery, load};
use crate::api::export::sheet;
use crate::api::report::attachment;
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct Section<'a> {
    kind_label: &'static str,
    meetings: Vec<&'a MeetingView>,
}

#[derive(Debug, Serialize)]
struct BookView<'a> {
    links: VillageLinks,
    sections: Vec<Section<'a>>,
    total: usize,
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(village): Path<String>,
    q: Result<Query<YearQuery>, AppError>,
) -> Result<Html<String>, PageError> {
    let Query(q) = q?;
    let data = load(&state, &viewer.0, &village, q.year()?).await?;
    let all = meetings(&data);
    let sections = by_kind(&all)
        .into_iter()
        .filter(|(_, ms)| !ms.is_empty())
        .map(|(k, meetings)| Section { kind_label: k.label(), meetings })
        .collect();
    let view = BookView { links: VillageLinks::new(&data, &viewer), sections, total: all.len() };
    let title = format!("{} {} 年会议记录本", data.name, data.year());
    render("book.html", &title, Some(&viewer.info()), &view)
}

const HEADER: [&str; 21] = [
    "会议日期",
    "议题",
    "党小组",
    "地点",
    "主持人",
    "记录人",
    "应到人数",
    "出席",
    "请假",
    "缺席",
    "出席人员",
    "请假人员（事由）",
    "缺席人员",
    "列席人员（不在应到之列）",
    "未记考勤人员",
    "决议",
    "法定人数",
    "补录/提前录入",
    "服务器首次收到",
    "同步后首次改动",
    "状态",
];

fn row(m: &MeetingView) -> Vec<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let quorum = match &m.quorum {
        Some(q) => format!("{}/{} {}", q.present, q.due, if q.met { "达到" } else { "未达到" }),
        None if m.quorum_unknown => "无法计算（名册未标出支委）".to_owned(),
        None => "不要求".to_owned(),
    };
    vec![
        m.held_on.clone(),
        m.topic.clone(),
        opt(&m.group),
        opt(&m.place),
        opt(&m.host),
        opt(&m.recorder),
        m.due.to_string(),
        m.present.to_string(),
        m.leave.to_string(),
        m.absent.to_string(),
        m.present_names.clone(),
        m.leave_names.clone(),
        m.absent_names.clone(),
        m.sitting_in_names.clone(),
        m.unmarked_names.clone(),
        opt(&m.resolutions),
        quorum,
        match (m.late_days, m.early_days) {
            (Some(d), _) => format!("补录，晚 {d} 天"),
            (None, Some(d)) => format!("提前录入，早 {d} 天"),
            (None, None) => String::new(),
        },
        opt(&m.first_seen),
        opt(&m.edited_at),
        match (&m.voided, &m.quorum) {
            (Some(voided), _) => voided.clone(),
            (None, Some(q)) if !q.met => "未达法定人数，不计入".to_owned(),
            (None, _) => "有效".to_owned(),
        },
    ]
}

/// The record book as XLSX bytes: one sheet per meeting kind, Chinese headers, a row per
/// meeting.
fn book_xlsx(all: &[MeetingView]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
    for (kind, meetings) in by_kind(all) {
        let rows: Vec<Vec<String>> = meetings.into_iter().map(row).collect();
        sheet(&mut book, kind.label(), &header, &rows, &bold)?;
    }
    Ok(book.save_to_buffer()?)
}

async fn xlsx(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(village): Path<String>,
    q: Result<Query<YearQuery>, AppError>,
) -> Result<Response, PageError> {
    let Query(q) = q?;
    let data = load(&state, &viewer.0, &village, q.year()?).await?;
    let body = book_xlsx(&meetings(&data))?;
    Ok(attachment(
        body,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        format!("{}-{}-会议记录本.xlsx", data.key.village, data.year()),
    ))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/villages/{village}/book", get(page)).route("/villages/{village}/book.xlsx", get(xlsx))
}
