//! The gaps of a micro-power case, derived from its steps and notice against its item: steps
//! missing or done out of order, a notice missing or shorter than required, a case open past
//! the township's deadline. Voided cases have no gaps; they do not count.

use serde::{Deserialize, Serialize};

use crate::{Case, Catalog, Code, Date, Notice, NoticeRule};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gap", rename_all = "snake_case")]
pub enum CaseGap {
    /// A required step was not done: skipped before a later one, or missing at closing.
    MissingStep { step: Code },
    /// A step was dated before the step that comes before it.
    OutOfOrder { step: Code, after: Code },
    /// The item requires a public notice and none is recorded.
    NoticeMissing,
    /// A notice ran fewer days than the item requires: the notice step's (`step`), or the
    /// case's own notice.
    NoticeTooShort {
        days: i64,
        required: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Code>,
    },
    /// Still open this many days after it was opened, past the deadline.
    Overdue { days_open: i64, deadline: u32 },
}

impl CaseGap {
    /// What the township reads.
    pub fn describe(&self, catalog: &Catalog, item: &Code) -> String {
        let step_name = |code: &Code| {
            catalog
                .item(item.as_str())
                .and_then(|i| i.step(code))
                .map_or_else(|| code.to_string(), |(_, s)| s.name.to_string())
        };
        match self {
            CaseGap::MissingStep { step } => format!("缺少步骤「{}」", step_name(step)),
            CaseGap::OutOfOrder { step, after } => {
                format!("步骤「{}」的日期早于前一步「{}」", step_name(step), step_name(after))
            }
            CaseGap::NoticeMissing => "缺少公示记录（公示的起止日期）".to_owned(),
            CaseGap::NoticeTooShort { days, required, step: None } => {
                format!("公示只有 {days} 天，应不少于 {required} 天")
            }
            CaseGap::NoticeTooShort { days, required, step: Some(step) } => {
                format!("「{}」只公示了 {days} 天，应不少于 {required} 天", step_name(step))
            }
            CaseGap::Overdue { days_open, deadline } => format!("已办理 {days_open} 天仍未办结（期限 {deadline} 天）"),
        }
    }
}

/// The gaps of one case on `as_of`.
pub fn case_gaps(case: &Case, catalog: &Catalog, as_of: Date) -> Vec<CaseGap> {
    let mut gaps = Vec::new();
    if case.voided.is_some() {
        return gaps;
    }
    let Some(item) = catalog.item(case.item.as_str()) else {
        return gaps; // validation refuses unknown items; nothing to measure against
    };
    let closed = case.closed_on.is_some();
    let last_done = item.steps.iter().rposition(|s| case.steps.contains_key(&s.code));
    let mut previous: Option<(&Code, Date)> = None;
    for (i, def) in item.steps.iter().enumerate() {
        match case.steps.get(&def.code) {
            Some(step) => {
                if let Some((prev, day)) = previous
                    && step.done_on < day
                {
                    gaps.push(CaseGap::OutOfOrder { step: def.code.clone(), after: prev.clone() });
                }
                previous = Some((&def.code, step.done_on));
            }
            None if closed || last_done.is_some_and(|l| i < l) => {
                gaps.push(CaseGap::MissingStep { step: def.code.clone() });
            }
            None => {}
        }
    }
    let all_done = last_done == Some(item.steps.len() - 1);
    // The notices recorded: each notice step's with its period, and the case's own (recorded
    // before notice steps carried their period, or for an item without a notice step).
    let mut notices: Vec<(Option<&Code>, Notice)> =
        item.notice_steps().filter_map(|def| Some((Some(&def.code), case.steps.get(&def.code)?.notice()?))).collect();
    notices.extend(case.notice.clone().map(|n| (None, n)));
    // A monthly notice (财务公开) is the month's accounts: its step done is the notice.
    let monthly_done =
        item.notice == NoticeRule::Monthly && item.notice_steps().any(|d| case.steps.contains_key(&d.code));
    match item.notice {
        NoticeRule::None => {}
        _ if notices.is_empty() && !monthly_done => {
            if closed || all_done {
                gaps.push(CaseGap::NoticeMissing);
            }
        }
        NoticeRule::Days { days } => {
            for (step, n) in notices.into_iter().filter(|(_, n)| n.days() < i64::from(days)) {
                gaps.push(CaseGap::NoticeTooShort { days: n.days(), required: days, step: step.cloned() });
            }
        }
        NoticeRule::Monthly => {}
    }
    let days_open = case.opened_on.days_until(as_of);
    if !closed && days_open > i64::from(catalog.case_deadline_days) {
        gaps.push(CaseGap::Overdue { days_open, deadline: catalog.case_deadline_days });
    }
    gaps
}
