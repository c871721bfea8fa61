//! Micro-power cases (小微权力清单): one exercise of a listed village power, step by step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Code, Date, Line, Name, Prose, RecordId, Voided};

/// A completed step of a case. A notice step (公示, 决议公开, 财务公开: `notice` in the catalog)
/// is the notice itself: posted from `done_on` to `until`, both ends inclusive, at `place`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub done_on: Date,
    pub by: AccountId,
    #[serde(default)]
    pub note: Option<Prose>,
    /// A notice step's last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// Where a notice step's notice was posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Name>,
    /// The meeting the step was taken at (党员大会审议: the branch assembly), when the cadre
    /// named it; otherwise the meeting of the step's kind held that day is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<RecordId>,
}

impl Step {
    /// A step done on `done_on` by `by`, with a note (no notice period).
    pub fn new(done_on: Date, by: AccountId, note: Option<Prose>) -> Self {
        Step { done_on, by, note, until: None, place: None, meeting: None }
    }

    /// The notice it records, when it is a notice step with its period.
    pub fn notice(&self) -> Option<Notice> {
        self.until.map(|to| Notice { from: self.done_on, to, place: self.place.clone() })
    }
}

/// The public notice (公示): where and for which days it was posted, both ends inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub from: Date,
    pub to: Date,
    #[serde(default)]
    pub place: Option<Name>,
}

impl Notice {
    /// Days the notice ran, counting both ends.
    pub fn days(&self) -> i64 {
        self.from.days_until(self.to) + 1
    }
}

/// One case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub item: Code,
    pub title: Line,
    pub opened_on: Date,
    #[serde(default)]
    pub applicant: Option<Name>,
    #[serde(default)]
    pub steps: BTreeMap<Code, Step>,
    #[serde(default)]
    pub notice: Option<Notice>,
    #[serde(default)]
    pub outcome: Option<Prose>,
    #[serde(default)]
    pub closed_on: Option<Date>,
    #[serde(default)]
    pub voided: Option<Voided>,
}

impl Case {
    pub fn new(item: Code, title: Line, opened_on: Date) -> Self {
        Case {
            item,
            title,
            opened_on,
            applicant: None,
            steps: BTreeMap::new(),
            notice: None,
            outcome: None,
            closed_on: None,
            voided: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_counts_both_ends() {
        let n = Notice {
            from: Date::parse("2026-03-01").expect("d"),
            to: Date::parse("2026-03-07").expect("d"),
            place: None,
        };
        assert_eq!(n.days(), 7);
    }
}
