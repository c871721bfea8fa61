//! A micro-power case as the village page shows it: the item's steps in their required order,
//! each done (on which day, by whom, late or not) or missing, the public notice against the
//! period the item requires, and the gaps zhibu-schema derives (the same as the report's).

use serde::Serialize;
use zhibu_schema::{Case, Date, RecordId, case_gaps};

use super::clock;
use super::village_data::VillageData;

#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub code: String,
    pub name: String,
    pub done_on: Option<String>,
    pub by: Option<String>,
    pub note: Option<String>,
    /// A notice step's period and place: `至 2026-03-07（7 天，村务公开栏）`.
    pub notice: Option<String>,
    pub first_seen: Option<String>,
    pub late_days: Option<i64>,
    pub early_days: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub id: String,
    pub item: String,
    pub item_name: String,
    pub title: String,
    pub opened_on: String,
    pub applicant: Option<String>,
    pub closed_on: Option<String>,
    pub outcome: Option<String>,
    pub voided: Option<String>,
    pub steps: Vec<StepRow>,
    /// `2026-03-01 至 2026-03-07（7 天）`, when a notice was posted.
    pub notice: Option<String>,
    pub notice_rule: String,
    pub gaps: Vec<String>,
    pub history_url: String,
}

impl CaseView {
    pub fn new(data: &VillageData, id: &RecordId, c: &Case, as_of: Date) -> CaseView {
        let catalog = &data.catalog;
        let item = catalog.item(c.item.as_str());
        let step_row = |code: &zhibu_schema::Code, name: String| {
            let done = c.steps.get(code);
            let arrival = data.arrivals.steps.get(&(id.to_string(), code.to_string()));
            StepRow {
                code: code.to_string(),
                name,
                done_on: done.map(|s| s.done_on.to_string()),
                by: done.map(|s| s.by.to_string()),
                note: done.and_then(|s| s.note.as_ref().map(ToString::to_string)),
                notice: done.and_then(zhibu_schema::Step::notice).map(|n| format!("至 {}", notice_text(&n))),
                first_seen: arrival.map(|a| clock::format_ms(a.first_seen_at)),
                late_days: arrival.and_then(|a| a.late_days),
                early_days: arrival.and_then(|a| a.early_days),
            }
        };
        let mut steps: Vec<StepRow> =
            item.map(|i| i.steps.iter().map(|s| step_row(&s.code, s.name.to_string())).collect()).unwrap_or_default();
        // Steps the item does not list (validation refuses them; shown rather than hidden).
        for code in c.steps.keys() {
            if !steps.iter().any(|s| s.code == code.as_str()) {
                steps.push(step_row(code, code.to_string()));
            }
        }
        CaseView {
            id: id.to_string(),
            item: c.item.to_string(),
            item_name: item.map_or_else(|| c.item.to_string(), |i| i.name.to_string()),
            title: c.title.to_string(),
            opened_on: c.opened_on.to_string(),
            applicant: c.applicant.as_ref().map(ToString::to_string),
            closed_on: c.closed_on.map(|d| d.to_string()),
            outcome: c.outcome.as_ref().map(ToString::to_string),
            voided: c.voided.as_ref().map(|v| format!("已作废（{}，{}）", v.reason, v.by)),
            steps,
            notice: c.notice.as_ref().map(|n| format!("{} 至 {}", n.from, notice_text(n))),
            notice_rule: item.map_or_else(String::new, |i| i.notice.label()),
            gaps: case_gaps(c, &data.records, catalog, as_of).iter().map(|g| g.describe(catalog, &c.item)).collect(),
            history_url: format!("/villages/{}/history/case/{id}?year={}", data.key.village, data.year()),
        }
    }
}

/// A notice's last day, length and place: `2026-03-07（7 天，村务公开栏）`.
fn notice_text(n: &zhibu_schema::Notice) -> String {
    let place = n.place.as_ref().map(|p| format!("，{p}")).unwrap_or_default();
    format!("{}（{} 天{place}）", n.to, n.days())
}

/// Every case of the village's year, by the day it was opened.
pub fn cases(data: &VillageData, as_of: Date) -> Vec<CaseView> {
    let mut out: Vec<CaseView> = data.records.cases.iter().map(|(id, c)| CaseView::new(data, id, c, as_of)).collect();
    out.sort_by(|a, b| (&a.opened_on, &a.id).cmp(&(&b.opened_on, &b.id)));
    out
}
