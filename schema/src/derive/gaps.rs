//! The gaps of a micro-power case, derived from its steps and notice against its item: steps
//! missing or done out of order, a notice missing or shorter than required, a case open past
//! the township's deadline or closed after it. Voided cases have no gaps; they do not count.

use serde::{Deserialize, Serialize};

use crate::{Case, Catalog, Code, Date, Meeting, MeetingKind, Notice, NoticeRule, RecordId, Step, VillageYear, quorum};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gap", rename_all = "snake_case")]
pub enum CaseGap {
    /// A required step was not done: skipped before a later one, or missing at closing.
    MissingStep { step: Code },
    /// A step was dated before the step that comes before it.
    OutOfOrder { step: Code, after: Code },
    /// The item requires a public notice and none is recorded; or a notice step (`step`) was
    /// done without its days.
    NoticeMissing {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<Code>,
    },
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
    /// Closed, but this many days after it was opened, past the deadline: closing it late does
    /// not take back that it ran over.
    ClosedLate { days_open: i64, deadline: u32 },
    /// A step taken at a meeting (党员大会审议) has no valid meeting of its kind: none named and
    /// none held that day, or the one named is voided, of another kind or short of its quorum.
    StepMeeting {
        step: Code,
        kind: MeetingKind,
        problem: StepMeetingProblem,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meeting: Option<RecordId>,
    },
}

/// What is wrong with the meeting a step was taken at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepMeetingProblem {
    /// No meeting named, and none of the kind recorded on the step's day.
    NotRecorded,
    /// The meeting named is not in the records.
    Unknown,
    /// The meeting named was voided.
    Voided,
    /// The meeting named is of another kind.
    OtherKind,
    /// The meeting did not have its quorum.
    NoQuorum,
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
            CaseGap::NoticeMissing { step: None } => "缺少公示记录（公示的起止日期）".to_owned(),
            CaseGap::NoticeMissing { step: Some(step) } => format!("「{}」未记公示的起止日期", step_name(step)),
            CaseGap::NoticeTooShort { days, required, step: None } => {
                format!("公示只有 {days} 天，应不少于 {required} 天")
            }
            CaseGap::NoticeTooShort { days, required, step: Some(step) } => {
                format!("「{}」只公示了 {days} 天，应不少于 {required} 天", step_name(step))
            }
            CaseGap::Overdue { days_open, deadline } => format!("已办理 {days_open} 天仍未办结（期限 {deadline} 天）"),
            CaseGap::ClosedLate { days_open, deadline } => {
                format!("办理 {days_open} 天才办结，超过期限（{deadline} 天）")
            }
            CaseGap::StepMeeting { step, kind, problem, .. } => {
                let (step, kind) = (step_name(step), kind.label());
                match problem {
                    StepMeetingProblem::NotRecorded => format!("「{step}」当天没有{kind}的会议记录"),
                    StepMeetingProblem::Unknown => format!("「{step}」关联的{kind}会议记录找不到"),
                    StepMeetingProblem::Voided => format!("「{step}」关联的{kind}会议记录已作废"),
                    StepMeetingProblem::OtherKind => format!("「{step}」关联的会议不是{kind}"),
                    StepMeetingProblem::NoQuorum => format!("「{step}」所在的{kind}未达到法定人数"),
                }
            }
        }
    }
}

/// The gaps of one case on `as_of`; `doc` holds the meetings its steps were taken at.
pub fn case_gaps(case: &Case, doc: &VillageYear, catalog: &Catalog, as_of: Date) -> Vec<CaseGap> {
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
            // A notice step not done is a missing step already, said once: the notice is
            // missing as such only where a notice step was done without its days, or the
            // item's notice is no step of its own.
            let said =
                item.notice_steps().next().is_some() && !item.notice_steps().any(|d| case.steps.contains_key(&d.code));
            if (closed || all_done) && !said {
                gaps.push(CaseGap::NoticeMissing { step: None });
            }
        }
        NoticeRule::Days { days } => {
            // A notice step done without its days, beside another with them (a case's own
            // notice, recorded before steps carried their days, stands for them all).
            if case.notice.is_none() {
                for def in item.notice_steps() {
                    if case.steps.get(&def.code).is_some_and(|s| s.until.is_none()) {
                        gaps.push(CaseGap::NoticeMissing { step: Some(def.code.clone()) });
                    }
                }
            }
            for (step, n) in notices.into_iter().filter(|(_, n)| n.days() < i64::from(days)) {
                gaps.push(CaseGap::NoticeTooShort { days: n.days(), required: days, step: step.cloned() });
            }
        }
        NoticeRule::Monthly => {}
    }
    for def in &item.steps {
        if let (Some(kind), Some(step)) = (def.meeting, case.steps.get(&def.code)) {
            gaps.extend(step_meeting(doc, catalog, &def.code, kind, step));
        }
    }
    let deadline = catalog.case_deadline_days;
    match case.closed_on {
        None => {
            let days_open = case.opened_on.days_until(as_of);
            if days_open > i64::from(deadline) {
                gaps.push(CaseGap::Overdue { days_open, deadline });
            }
        }
        Some(closed_on) => {
            let days_open = case.opened_on.days_until(closed_on);
            if days_open > i64::from(deadline) {
                gaps.push(CaseGap::ClosedLate { days_open, deadline });
            }
        }
    }
    gaps
}

/// What is wrong with the meeting a step of `kind` was taken at, if anything: the meeting the
/// step names, or else a meeting of the kind held on the step's day (the cadre records the
/// assembly and its step on the same day, and names nothing twice).
fn step_meeting(doc: &VillageYear, catalog: &Catalog, code: &Code, kind: MeetingKind, step: &Step) -> Option<CaseGap> {
    let gap = |problem, meeting: Option<&RecordId>| {
        Some(CaseGap::StepMeeting { step: code.clone(), kind, problem, meeting: meeting.cloned() })
    };
    // A step of a case opened in December may be taken at next year's assembly, which is in
    // next year's document: not to be found here, so not held against the case.
    if !doc.year.contains(step.done_on) {
        return None;
    }
    let quorum_met =
        |m: &Meeting| catalog.requirement(kind).and_then(|r| quorum(doc, m, r.quorum)).is_none_or(|q| q.met());
    match &step.meeting {
        Some(id) => match doc.meetings.get(id) {
            None => gap(StepMeetingProblem::Unknown, Some(id)),
            Some(m) if m.voided.is_some() => gap(StepMeetingProblem::Voided, Some(id)),
            Some(m) if m.kind != kind => gap(StepMeetingProblem::OtherKind, Some(id)),
            Some(m) if !quorum_met(m) => gap(StepMeetingProblem::NoQuorum, Some(id)),
            Some(_) => None,
        },
        None => {
            let held: Vec<(&RecordId, &Meeting)> =
                doc.live_meetings().filter(|(_, m)| m.kind == kind && m.held_on == step.done_on).collect();
            match held.iter().find(|(_, m)| quorum_met(m)) {
                Some(_) => None,
                None => match held.first() {
                    Some((id, _)) => gap(StepMeetingProblem::NoQuorum, Some(id)),
                    None => gap(StepMeetingProblem::NotRecorded, None),
                },
            }
        }
    }
}
