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
    /// A record made anew under an id the document already holds (two phones, or a phone and
    /// the township's roster import, made the same member): one of the two would hide the other.
    Duplicate,
    /// A rule this build does not know: a newer server's (its message says what is wrong). A
    /// phone must still read the rest of the reply.
    #[serde(other)]
    Other,
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
            Rule::Duplicate => "duplicate",
            Rule::Other => "other",
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
        f.write_str(self.collection.label())?;
        if self.collection != Collection::Document {
            // A record id (a UUID) by its last eight characters, as the phone lists records.
            let id = &self.record;
            let uuid = id.len() == 36 && id.as_bytes()[8] == b'-' && id.is_ascii();
            write!(f, " {}", if uuid { &id[28..] } else { id.as_str() })?;
        }
        if !self.field.is_empty() {
            write!(f, "（{}）", field_label(&self.field))?;
        }
        write!(f, "：{}", self.message)
    }
}

/// A field's dotted path (`attendance.v1-m04.reason`) as a cadre reads it (`v1-m04 的请假事由`):
/// the names of the record's fields in Chinese, ids and codes as they are.
pub fn field_label(field: &str) -> String {
    let parts: Vec<&str> = field.split('.').collect();
    match parts[..] {
        ["attendance", member, what] => {
            let what = match what {
                "status" => "出勤情况",
                "reason" => "请假事由",
                "approved_by" => "请假批准人",
                "makeup_on" => "补课日期",
                other => other,
            };
            format!("{member} 的{what}")
        }
        ["attendance", member] => format!("{member} 的考勤"),
        ["voided", "reason"] => "作废原因".to_owned(),
        ["voided", "by"] => "作废人".to_owned(),
        ["steps", step, "done_on"] => format!("步骤 {step} 的办理日期"),
        ["steps", step, "note"] => format!("步骤 {step} 的说明"),
        ["steps", step, "until"] => format!("步骤 {step} 的公示结束日期"),
        ["steps", step, "place"] => format!("步骤 {step} 的公示地点"),
        ["steps", step, "meeting"] => format!("步骤 {step} 所在的会议"),
        ["steps", step, "by"] => format!("步骤 {step} 的录入人"),
        ["steps", step] => format!("步骤 {step}"),
        ["notice", "from"] => "公示开始日期".to_owned(),
        ["notice", "to"] => "公示结束日期".to_owned(),
        ["notice", "place"] => "公示地点".to_owned(),
        [one] => match one {
            "name" => "姓名",
            "group" => "党小组",
            "status" => "身份",
            "committee" => "支委",
            "joined_on" => "入党日期",
            "full_on" => "转正日期",
            "left_on" => "离开日期",
            "arrived_on" => "转入日期",
            "kind" => "会议类型",
            "held_on" => "开会日期",
            "topic" => "议题",
            "place" => "地点",
            "host" => "主持人",
            "recorder" => "记录人",
            "resolutions" => "决议",
            "attendance" => "考勤",
            "member_id" => "党员",
            "rule" => "积分规则",
            "delta" => "分值",
            "on" => "日期",
            "note" => "说明",
            "by" => "录入人",
            "voided" => "作废",
            "item" => "事项",
            "title" => "标题",
            "opened_on" => "立项日期",
            "applicant" => "申请人",
            "steps" => "办理步骤",
            "notice" => "公示",
            "outcome" => "办理结果",
            "closed_on" => "办结日期",
            "year" => "年度",
            "village" => "村",
            other => other,
        }
        .to_owned(),
        _ => field.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_of_a_newer_server_is_read_as_other() {
        let v: Violation = serde_json::from_value(serde_json::json!({
            "collection": "points", "record": "r1", "field": "delta", "rule": "a_rule_from_2030", "message": "新规则"
        }))
        .expect("reads");
        assert_eq!(v.rule, Rule::Other);
    }

    #[test]
    fn fields_read_in_chinese_with_ids_and_codes_as_they_are() {
        let v = Violation::new(Collection::Points, "r1", "delta", Rule::DeltaOutOfRange, "分值应在 1 到 5 之间");
        assert_eq!(v.to_string(), "积分记录 r1（分值）：分值应在 1 到 5 之间");
        assert_eq!(field_label("attendance.v1-m04.reason"), "v1-m04 的请假事由");
        assert_eq!(field_label("steps.notice.done_on"), "步骤 notice 的办理日期");
        assert_eq!(field_label("steps.notice.until"), "步骤 notice 的公示结束日期");
        assert_eq!(field_label("something.new"), "something.new");
        let whole = Violation::new(Collection::Meetings, "m1", "", Rule::MissingField, "缺少议题");
        assert_eq!(whole.to_string(), "会议 m1：缺少议题");
    }
}
