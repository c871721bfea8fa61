//! A broken rule, as validation reports it: which record, which field, a stable code for
//! programs and a Chinese sentence for the cadre who has to fix it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The part of the document a record lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Document,
    Members,
    Meetings,
    Points,
    Cases,
}

impl Collection {
    pub fn key(self) -> &'static str {
        match self {
            Collection::Document => "",
            Collection::Members => "members",
            Collection::Meetings => "meetings",
            Collection::Points => "points",
            Collection::Cases => "cases",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Collection::Document => "文档",
            Collection::Members => "党员",
            Collection::Meetings => "会议",
            Collection::Points => "积分记录",
            Collection::Cases => "小微权力事项",
        }
    }
}

/// The stable codes of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The document is not a village-year document of the expected village, year or version.
    Header,
    /// A record's id is malformed.
    BadId,
    /// A required field is missing.
    MissingField,
    /// A field holds a value of the wrong type or form.
    BadValue,
    /// Attendance or a point entry names a member not on the roster.
    UnknownMember,
    /// A point entry names a rule the catalog lacks, or an attendance rule.
    UnknownRule,
    /// A point entry's delta is outside its rule's range.
    DeltaOutOfRange,
    /// A case names an item the catalog lacks.
    UnknownItem,
    /// A case step does not belong to its item.
    UnknownStep,
    /// A date lies outside the document's year.
    DateOutsideYear,
    /// Two dates are in the wrong order (left before joining, notice ending before it starts).
    DateOrder,
    /// Leave (请假) without a reason.
    LeaveWithoutReason,
    /// A make-up date on a member who was present.
    MakeupWhilePresent,
    /// A group meeting without its party group.
    GroupMissing,
    /// A record the document held is gone: records are voided with a reason, never deleted.
    Deleted,
    /// A voided record is no longer voided.
    Unvoided,
    /// More members or party groups than any branch has.
    TooMany,
    /// A `by` that names another account than the one that wrote it.
    WrongAuthor,
}

impl Rule {
    pub fn code(self) -> &'static str {
        match self {
            Rule::Header => "header",
            Rule::BadId => "bad_id",
            Rule::MissingField => "missing_field",
            Rule::BadValue => "bad_value",
            Rule::UnknownMember => "unknown_member",
            Rule::UnknownRule => "unknown_rule",
            Rule::DeltaOutOfRange => "delta_out_of_range",
            Rule::UnknownItem => "unknown_item",
            Rule::UnknownStep => "unknown_step",
            Rule::DateOutsideYear => "date_outside_year",
            Rule::DateOrder => "date_order",
            Rule::LeaveWithoutReason => "leave_without_reason",
            Rule::MakeupWhilePresent => "makeup_while_present",
            Rule::GroupMissing => "group_missing",
            Rule::Deleted => "deleted",
            Rule::Unvoided => "unvoided",
            Rule::TooMany => "too_many",
            Rule::WrongAuthor => "wrong_author",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Violation {
    pub collection: Collection,
    /// The record's id (member id or record id); empty for the document header.
    pub record: String,
    /// The field, as a dotted path inside the record (`attendance.m-7.status`).
    pub field: String,
    pub rule: Rule,
    /// What is wrong, in Chinese, for a cadre.
    pub message: String,
}

impl Violation {
    pub fn new(
        collection: Collection,
        record: impl Into<String>,
        field: impl Into<String>,
        rule: Rule,
        message: impl Into<String>,
    ) -> Self {
        Violation { collection, record: record.into(), field: field.into(), rule, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.collection == Collection::Document {
            write!(f, "{}（字段 {}）：{}", self.collection.label(), self.field, self.message)
        } else {
            write!(f, "{} {}（字段 {}）：{}", self.collection.label(), self.record, self.field, self.message)
        }
    }
}
