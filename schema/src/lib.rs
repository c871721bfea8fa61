//! zhibu-schema: the domain of zhibu with no IO.
//!
//! Typed records whose constructors refuse bad values ([`id`], [`text`], [`date`], the record
//! modules), the township [`catalog`], the [`mapping`] to and from the village-year Automerge
//! document of API.md, [`validate`] for whole documents, and the [`derive`]d figures (scores,
//! grades, compliance, case gaps, late entries). The phone and the server both call this
//! crate, so offline and online they compute the same numbers.

pub mod case;
pub mod catalog;
#[cfg(feature = "cli")]
pub mod cli;
pub mod date;
pub mod derive;
pub mod document;
pub mod guard;
pub mod id;
pub mod mapping;
pub mod meeting;
pub mod member;
pub mod points;
pub mod role;
pub mod sample;
pub mod sync;
pub mod text;
pub mod validate;
pub mod violation;

#[cfg(test)]
mod testutil;

pub use automerge;

pub use case::{Case, Notice, Step};
pub use catalog::{
    Catalog, Due, Grade, GradeBand, MeetingRequirement, NoticeRule, PointRule, PowerItem, Quorum, RuleSource, StepDef,
};
pub use date::{Cadence, Date, DateError, Period, Year};
pub use derive::compliance::{
    ComplianceRow, KindSummary, PeriodState, QuorumCount, compliance, quorum, summarize, unmarked_members,
};
pub use derive::gaps::{CaseGap, StepMeetingProblem, case_gaps};
pub use derive::late::{early_by, late_by};
pub use derive::score::{
    LeaveLine, MemberScore, MemberTotal, ScoreEntry, all_scores, all_totals, grade_distribution, member_score,
};
pub use document::{SCHEMA_VERSION, VillageYear, Voided};
pub use id::{AccountId, Code, IdError, MemberId, RecordId, TownshipId, VillageId};
pub use meeting::{Attendance, AttendanceStatus, Meeting, MeetingKind};
pub use member::{Member, MemberStatus};
pub use points::{DeltaError, PointDelta, PointEntry};
pub use role::{MIN_PASSWORD_CHARS, Role};
pub use text::{Line, Name, Prose, Text, TextError};
pub use validate::{check_document, check_read, erased, read_problems, validate};
pub use violation::{Collection, Rule, Violation};
