//! `/villages/{v}/history/{meeting|case}/{id}?year=`: every stored change that touched one
//! record, oldest first, with the account and device that made it, the device's clock and when
//! the server first received it, and what it wrote. The change that brought a record (or a case
//! step) more than the catalog's threshold after its date is flagged 补录; edits after the
//! record first reached the server are flagged as such. This is how the township tells an honest
//! record from a back-filled one.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use serde::Serialize;
use zhibu_schema::{Date, RecordId, early_by, late_by};

use super::clock;
use super::error::PageError;
use super::field_labels::{Labels, RecordKind};
use super::record_changes::{Touch, conflicts, touches};
use super::session::Viewer;
use super::templates::render;
use super::village::VillageLinks;
use super::village_data::{VillageData, YearQuery, load};
use crate::db::documents::ChangeRow;
use crate::error::AppError;
use crate::extract::Query;
use crate::state::AppState;

/// More writes of attendance than this in one change are summed up instead of listed.
const ATTENDANCE_LISTED: usize = 6;

#[derive(Debug, Serialize)]
struct Write {
    field: String,
    value: String,
}

#[derive(Debug, Serialize)]
struct ChangeView {
    number: usize,
    hash: String,
    action: &'static str,
    message: Option<String>,
    account: String,
    device: String,
    device_time: String,
    received_at: String,
    /// Days between the record's (or step's) date and the day the server received it, when
    /// that makes this change a late entry.
    late_days: Option<i64>,
    /// Days the record it dates is dated after the day this change reached the server
    /// (提前录入).
    early_days: Option<i64>,
    edited_after_sync: bool,
    writes: Vec<Write>,
}

#[derive(Debug, Serialize)]
struct HistoryView {
    links: VillageLinks,
    kind: &'static str,
    kind_label: &'static str,
    id: String,
    heading: String,
    dated: String,
    record_url: String,
    /// The record's own late-entry status from the projections.
    late: Option<String>,
    changes: Vec<ChangeView>,
    /// Fields two phones set differently while offline, with the value the record shows.
    conflicts: Vec<ConflictView>,
}

#[derive(Debug, Serialize)]
struct ConflictView {
    field: String,
    values: Vec<ConflictValueView>,
}

#[derive(Debug, Serialize)]
struct ConflictValueView {
    value: String,
    /// The value the record shows (采用).
    shown: bool,
    /// The change that wrote it: its number in the list, its account and device.
    number: Option<usize>,
    account: String,
    device: String,
}

/// What a record's history page needs to know about the record itself.
struct Subject {
    heading: String,
    /// The record's date (meeting held, case opened).
    dated: Date,
    /// The dates of a case's steps, by step code.
    step_dates: HashMap<String, Date>,
    item: Option<String>,
    late: Option<String>,
}

fn subject(data: &VillageData, kind: RecordKind, id: &RecordId) -> Result<Subject, AppError> {
    let missing = || AppError::not_found(format!("{} 年没有这条{}记录", data.year(), kind.label()));
    match kind {
        RecordKind::Meeting => {
            let m = data.records.meetings.get(id).ok_or_else(missing)?;
            let late = data.arrivals.meetings.get(id.as_str()).and_then(|a| {
                a.late_days.map(|d| {
                    format!(
                        "补录：会议日期 {}，服务器 {} 才首次收到，晚 {d} 天",
                        m.held_on,
                        clock::format_ms(a.first_seen_at)
                    )
                })
            });
            Ok(Subject {
                heading: format!("{} {}：{}", m.kind.label(), m.held_on, m.topic),
                dated: m.held_on,
                step_dates: HashMap::new(),
                item: None,
                late,
            })
        }
        RecordKind::Case => {
            let c = data.records.cases.get(id).ok_or_else(missing)?;
            let late_steps = data
                .arrivals
                .steps
                .iter()
                .filter(|((case, _), a)| case == id.as_str() && a.late_days.is_some())
                .count();
            let item_name =
                data.catalog.item(c.item.as_str()).map_or_else(|| c.item.to_string(), |i| i.name.to_string());
            Ok(Subject {
                heading: format!("{item_name}：{}", c.title),
                dated: c.opened_on,
                step_dates: c.steps.iter().map(|(code, s)| (code.to_string(), s.done_on)).collect(),
                item: Some(c.item.to_string()),
                late: (late_steps > 0).then(|| format!("补录：有 {late_steps} 个办理步骤是事后补录的")),
            })
        }
    }
}

fn writes(labels: &Labels<'_>, touch: &Touch) -> Vec<Write> {
    let is_status = |p: &[String]| p.len() == 3 && p[0] == "attendance" && p[2] == "status";
    let statuses: Vec<&str> =
        touch.writes.iter().filter(|(p, _)| is_status(p)).filter_map(|(_, v)| v.as_deref()).collect();
    let sum_up = statuses.len() > ATTENDANCE_LISTED;
    let mut out = Vec::new();
    if sum_up {
        let counts: Vec<String> = zhibu_schema::AttendanceStatus::ALL
            .iter()
            .map(|s| (s.label(), statuses.iter().filter(|v| **v == s.code()).count()))
            .filter(|(_, n)| *n > 0)
            .map(|(label, n)| format!("{label} {n} 人"))
            .collect();
        out.push(Write { field: format!("出勤（{} 人）", statuses.len()), value: counts.join("，") });
    }
    for (path, value) in &touch.writes {
        if sum_up && is_status(path) {
            continue;
        }
        let value = value.as_deref().map_or_else(|| "（删除）".to_owned(), |v| labels.value(path, v));
        out.push(Write { field: labels.field(path), value });
    }
    out
}

/// One value of a conflicted field as the township reads it: the value, or a map's fields
/// (`出勤：请假，请假事由：外出务工`).
fn held_text(labels: &Labels<'_>, at: &[String], fields: &[(Vec<String>, String)]) -> String {
    // An attendance entry's status first: what it is before why.
    let mut fields: Vec<&(Vec<String>, String)> = fields.iter().collect();
    fields.sort_by_key(|(below, _)| below.last().is_none_or(|k| k != "status"));
    let text: Vec<String> = fields
        .into_iter()
        .map(|(below, value)| {
            let path: Vec<String> = at.iter().chain(below).cloned().collect();
            let value = labels.value(&path, value);
            if below.is_empty() { value } else { format!("{}：{value}", labels.inner_field(&path)) }
        })
        .collect();
    if text.is_empty() { "（空）".to_owned() } else { text.join("，") }
}

/// The date a change is measured against for lateness: a case step it first recorded, or the
/// record itself when the change created it; None for plain edits.
fn dated_by(subject: &Subject, touch: &Touch, seen_steps: &mut Vec<String>) -> Option<Date> {
    let mut dated = touch.created.then_some(subject.dated);
    for (path, _) in &touch.writes {
        if let [steps, code, ..] = path.as_slice()
            && steps == "steps"
            && !seen_steps.contains(code)
        {
            seen_steps.push(code.clone());
            dated = subject.step_dates.get(code).copied().or(dated);
        }
    }
    dated
}

async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((village, kind, id)): Path<(String, String, String)>,
    q: Result<Query<YearQuery>, AppError>,
) -> Result<Html<String>, PageError> {
    let Query(q) = q?;
    let kind = RecordKind::parse(&kind).ok_or_else(|| AppError::not_found("没有这种记录"))?;
    let id = RecordId::parse(&id).map_err(|_| AppError::not_found("记录编号不对"))?;
    let data = load(&state, &viewer.0, &village, q.year()?).await?;
    let subject = subject(&data, kind, &id)?;
    let labels = Labels { kind, records: &data.records, catalog: &data.catalog, item: subject.item.as_deref() };
    let log: HashMap<String, ChangeRow> =
        state.db.change_log(&data.key).await?.into_iter().map(|c| (c.hash.clone(), c)).collect();

    let mut touched: Vec<(Touch, Option<&ChangeRow>)> = touches(&data.automerge, kind.collection(), id.as_str())
        .into_iter()
        .map(|t| {
            let row = log.get(&t.hash.to_string());
            (t, row)
        })
        .collect();
    // In the order the server received them; changes of one push keep their causal order.
    touched.sort_by_key(|(_, row)| row.map_or(i64::MAX, |r| r.received_at));
    let first_received = touched.first().and_then(|(_, r)| r.map(|r| r.received_at));
    let mut seen_steps = Vec::new();
    let changes = touched
        .iter()
        .enumerate()
        .map(|(i, (touch, row))| {
            let received = row.map(|r| r.received_at);
            let arrived = dated_by(&subject, touch, &mut seen_steps).zip(received.and_then(clock::day_of_ms));
            let late_days = arrived.and_then(|(dated, day)| late_by(dated, day, &data.catalog));
            let early_days = arrived.and_then(|(dated, day)| early_by(dated, day));
            ChangeView {
                number: i + 1,
                hash: touch.hash.to_string(),
                action: if touch.created { "新建" } else { "修改" },
                message: row.and_then(|r| r.message.clone()),
                account: row.map_or_else(|| "—".to_owned(), |r| r.account_id.clone()),
                device: row.map_or_else(|| "—".to_owned(), |r| r.peer_id.clone()),
                device_time: row.map_or_else(|| "—".to_owned(), |r| clock::format_secs(r.device_time)),
                received_at: received.map_or_else(|| "—".to_owned(), clock::format_ms),
                late_days,
                early_days,
                edited_after_sync: !touch.created && received.zip(first_received).is_some_and(|(r, f)| r > f),
                writes: writes(&labels, touch),
            }
        })
        .collect();

    let number_of = |hash: &automerge::ChangeHash| touched.iter().position(|(t, _)| t.hash == *hash);
    let conflicts = conflicts(&data.automerge, kind.collection(), id.as_str())
        .into_iter()
        .map(|c| ConflictView {
            field: labels.field(&c.path),
            values: c
                .values
                .iter()
                .map(|v| {
                    let number = v.hash.as_ref().and_then(number_of);
                    let row = number.and_then(|n| touched[n].1);
                    ConflictValueView {
                        value: held_text(&labels, &c.path, &v.fields),
                        shown: v.shown,
                        number: number.map(|n| n + 1),
                        account: row.map_or_else(|| "—".to_owned(), |r| r.account_id.clone()),
                        device: row.map_or_else(|| "—".to_owned(), |r| r.peer_id.clone()),
                    }
                })
                .collect(),
        })
        .collect();

    let links = VillageLinks::new(&data, &viewer);
    let view = HistoryView {
        record_url: format!("{}#{}-{id}", links.page, if kind == RecordKind::Meeting { "meeting" } else { "case" }),
        links,
        kind: kind.collection(),
        kind_label: kind.label(),
        id: id.to_string(),
        heading: subject.heading.clone(),
        dated: subject.dated.to_string(),
        late: subject.late.clone(),
        changes,
        conflicts,
    };
    let title = format!("{}记录的修改历史", kind.label());
    render("history.html", &title, Some(&viewer.info()), &view)
}

pub fn router() -> Router<AppState> {
    Router::new().route("/villages/{village}/history/{kind}/{id}", get(page))
}
