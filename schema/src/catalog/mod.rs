//! The catalog: township configuration that the rules read (point rules and their ranges, the
//! base score, grade bands, meeting requirements, micro-power items with their ordered steps and
//! notice periods, the late-entry threshold). The server holds it, clients cache it, it is not
//! part of the CRDT. A `Catalog` value that came through [`Catalog::check`] or a loader is
//! consistent: every code is known and unique, grade bands tile all scores, steps are non-empty.

mod check;
mod default;
mod file;

use serde::{Deserialize, Serialize};

use crate::{Cadence, Code, Line, MeetingKind};

pub use check::{CatalogIssue, CatalogPath};
pub use default::DEFAULT_CATALOG_TOML;
pub use file::{CatalogFileError, FileIssue};

/// The codes of the three attendance-derived rules, which every catalog must define.
pub const ATTEND_PRESENT: &str = "attend_present";
pub const ATTEND_ABSENT: &str = "attend_absent";
pub const ATTEND_MAKEUP: &str = "attend_makeup";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// 基础分 at the start of the year.
    pub base_score: i32,
    /// A meeting or case step dated more than this many days before the server first saw it is
    /// a late entry (补录).
    pub late_entry_days: u32,
    /// A case still open this many days after it was opened is overdue.
    pub case_deadline_days: u32,
    pub grades: Vec<GradeBand>,
    pub point_rules: Vec<PointRule>,
    pub meetings: Vec<MeetingRequirement>,
    pub items: Vec<PowerItem>,
}

/// 等次.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Good,
    Qualified,
    Unqualified,
}

impl Grade {
    pub const ALL: [Grade; 4] = [Grade::Excellent, Grade::Good, Grade::Qualified, Grade::Unqualified];

    pub fn code(self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Qualified => "qualified",
            Grade::Unqualified => "unqualified",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Grade::Excellent => "优秀",
            Grade::Good => "良好",
            Grade::Qualified => "合格",
            Grade::Unqualified => "不合格",
        }
    }
}

/// The scores that earn a grade, both ends inclusive; an open end is unbounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeBand {
    pub grade: Grade,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i32>,
}

impl GradeBand {
    pub fn contains(&self, score: i32) -> bool {
        self.min.is_none_or(|m| score >= m) && self.max.is_none_or(|m| score <= m)
    }
}

/// Where a rule's points come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// Derived from meeting attendance; never entered by hand.
    Attendance,
    /// Entered by a cadre as a point entry.
    Manual,
}

impl RuleSource {
    pub fn code(self) -> &'static str {
        match self {
            RuleSource::Attendance => "attendance",
            RuleSource::Manual => "manual",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            RuleSource::Attendance => "出勤",
            RuleSource::Manual => "手工",
        }
    }
}

/// A point rule: every entry under it must have a delta within `min..=max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointRule {
    pub code: Code,
    pub name: Line,
    pub source: RuleSource,
    pub min: i32,
    pub max: i32,
}

/// Who is due at a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    All,
    Committee,
    /// The members of the meeting's party group; the requirement holds for each group.
    Group,
}

/// The quorum a meeting needs, computed from the members who were due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quorum {
    None,
    /// More than half of the full members who were due attended.
    MajorityOfFull,
    /// More than half of the committee attended.
    MajorityOfCommittee,
}

/// How many meetings of a kind are required per period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingRequirement {
    pub kind: MeetingKind,
    pub cadence: Cadence,
    pub min_count: u32,
    pub due: Due,
    pub quorum: Quorum,
}

/// The public notice an item requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "RawNotice")]
pub enum NoticeRule {
    None,
    /// Posted for at least this many days.
    Days {
        days: u32,
    },
    /// Published in the monthly accounts notice (财务公开).
    Monthly,
}

/// A notice rule as written, read as a plain map: serde reads an internally tagged enum
/// through a buffer, past which a field the catalog does not know goes unseen, and a catalog
/// file must be told of a misspelt one (see `file.rs`).
#[derive(Deserialize)]
struct RawNotice {
    kind: String,
    days: Option<u32>,
}

impl TryFrom<RawNotice> for NoticeRule {
    type Error = String;
    fn try_from(raw: RawNotice) -> Result<Self, String> {
        match (raw.kind.as_str(), raw.days) {
            ("none", None) => Ok(NoticeRule::None),
            ("monthly", None) => Ok(NoticeRule::Monthly),
            ("days", Some(days)) => Ok(NoticeRule::Days { days }),
            ("days", None) => Err("公示规则 days 须写明天数（days = 天数）".to_owned()),
            ("none" | "monthly", Some(_)) => Err(format!("公示规则 {} 不需要天数", raw.kind)),
            (other, _) => Err(format!("未知的公示规则「{other}」，应为 none、days 或 monthly")),
        }
    }
}

impl NoticeRule {
    pub fn label(self) -> String {
        match self {
            NoticeRule::None => "无需公示".to_owned(),
            NoticeRule::Days { days } => format!("公示不少于 {days} 天"),
            NoticeRule::Monthly => "按月公开".to_owned(),
        }
    }
}

/// A step of an item's procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepDef {
    pub code: Code,
    pub name: Line,
    /// A notice step (公示、决议公开、财务公开): the step is the notice, recorded with its period
    /// and place, and its period is what the item's notice rule measures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice: bool,
    /// The kind of meeting the step is taken at (党员大会审议: `branch_assembly`): the case then
    /// shows whether that meeting was recorded, not voided, and had its quorum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<MeetingKind>,
}

/// A micro-power item (小微权力清单 事项) with its ordered procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerItem {
    pub code: Code,
    pub name: Line,
    pub steps: Vec<StepDef>,
    pub notice: NoticeRule,
}

impl PowerItem {
    pub fn step(&self, code: &Code) -> Option<(usize, &StepDef)> {
        self.steps.iter().enumerate().find(|(_, s)| &s.code == code)
    }

    /// Its notice steps, in the order of the procedure.
    pub fn notice_steps(&self) -> impl Iterator<Item = &StepDef> {
        self.steps.iter().filter(|s| s.notice)
    }
}

impl Catalog {
    /// What identifies the catalog's content (the first 16 hex digits of the SHA-256 of it as
    /// JSON): a phone and the server that hold the same catalog get the same digest, so the fast
    /// path can tell a phone its catalog is current without sending it.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let json = serde_json::to_vec(self).expect("a catalog serializes");
        hex::encode(&sha2::Sha256::digest(&json)[..8])
    }

    pub fn rule(&self, code: &str) -> Option<&PointRule> {
        self.point_rules.iter().find(|r| r.code.as_str() == code)
    }

    pub fn item(&self, code: &str) -> Option<&PowerItem> {
        self.items.iter().find(|i| i.code.as_str() == code)
    }

    pub fn requirement(&self, kind: MeetingKind) -> Option<&MeetingRequirement> {
        self.meetings.iter().find(|m| m.kind == kind)
    }

    /// The grade for a score. A checked catalog's bands tile every score.
    pub fn grade_of(&self, score: i32) -> Grade {
        self.grades.iter().find(|b| b.contains(score)).map_or(Grade::Unqualified, |b| b.grade)
    }

    /// The fixed points of an attendance rule (0 when a catalog lacks it, which `check`
    /// refuses).
    pub fn attendance_points(&self, code: &str) -> i32 {
        self.rule(code).map_or(0, |r| r.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grades_follow_the_domain_thresholds() {
        let c = Catalog::default();
        assert_eq!(c.grade_of(100), Grade::Excellent);
        assert_eq!(c.grade_of(90), Grade::Excellent);
        assert_eq!(c.grade_of(89), Grade::Good);
        assert_eq!(c.grade_of(80), Grade::Good);
        assert_eq!(c.grade_of(79), Grade::Qualified);
        assert_eq!(c.grade_of(60), Grade::Qualified);
        assert_eq!(c.grade_of(59), Grade::Unqualified);
        assert_eq!(c.grade_of(-50), Grade::Unqualified);
        assert_eq!(Grade::Good.label(), "良好");
    }

    #[test]
    fn the_default_catalog_passes_its_own_check() {
        assert_eq!(Catalog::default().check(), Vec::new());
    }

    #[test]
    fn attendance_points_come_from_the_catalog() {
        let c = Catalog::default();
        assert_eq!(c.attendance_points(ATTEND_ABSENT), -2);
        assert_eq!(c.attendance_points(ATTEND_MAKEUP), 1);
        assert_eq!(c.attendance_points(ATTEND_PRESENT), 0);
    }
}
