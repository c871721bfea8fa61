//! The Chinese names of a record's fields and values, for the change history: a path inside a
//! meeting or case (`attendance/<member>/status`, `steps/<code>/done_on`) becomes what the
//! township reads (`出勤 · 王建国`, `步骤「入户调查」办理日期`), codes become their names.

use zhibu_schema::{AttendanceStatus, Catalog, Code, MeetingKind, MemberId, VillageYear};

/// Which collection the record is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Meeting,
    Case,
}

impl RecordKind {
    pub fn parse(s: &str) -> Option<RecordKind> {
        match s {
            "meeting" => Some(RecordKind::Meeting),
            "case" => Some(RecordKind::Case),
            _ => None,
        }
    }
    pub fn collection(self) -> &'static str {
        match self {
            RecordKind::Meeting => "meetings",
            RecordKind::Case => "cases",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::Meeting => "会议",
            RecordKind::Case => "小微权力事项",
        }
    }
}

/// Names a record's fields and values.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub kind: RecordKind,
    pub records: &'a VillageYear,
    pub catalog: &'a Catalog,
    /// The case's item, for step names.
    pub item: Option<&'a str>,
}

impl Labels<'_> {
    fn member(&self, id: &str) -> String {
        MemberId::parse(id)
            .ok()
            .and_then(|m| self.records.member(&m).map(|p| p.name.to_string()))
            .unwrap_or_else(|| id.to_owned())
    }

    fn step(&self, code: &str) -> String {
        let name = Code::parse(code).ok().and_then(|c| {
            self.item.and_then(|i| self.catalog.item(i)).and_then(|i| i.step(&c).map(|(_, s)| s.name.to_string()))
        });
        name.unwrap_or_else(|| code.to_owned())
    }

    /// The name of a field, from its path inside the record.
    pub fn field(&self, path: &[String]) -> String {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let common = match p.as_slice() {
            [] => Some("整条记录".to_owned()),
            ["voided"] => Some("作废".to_owned()),
            ["voided", "reason"] => Some("作废原因".to_owned()),
            ["voided", "by"] => Some("作废人".to_owned()),
            _ => None,
        };
        if let Some(c) = common {
            return c;
        }
        match (self.kind, p.as_slice()) {
            (RecordKind::Meeting, ["kind"]) => "会议类型".to_owned(),
            (RecordKind::Meeting, ["held_on"]) => "会议日期".to_owned(),
            (RecordKind::Meeting, ["topic"]) => "议题".to_owned(),
            (RecordKind::Meeting, ["place"]) => "地点".to_owned(),
            (RecordKind::Meeting, ["host"]) => "主持人".to_owned(),
            (RecordKind::Meeting, ["recorder"]) => "记录人".to_owned(),
            (RecordKind::Meeting, ["group"]) => "党小组".to_owned(),
            (RecordKind::Meeting, ["resolutions"]) => "决议".to_owned(),
            (RecordKind::Meeting, ["attendance", m]) => format!("出勤 · {}", self.member(m)),
            (RecordKind::Meeting, ["attendance", m, field]) => {
                format!("{} · {}", attendance_field(field), self.member(m))
            }
            (RecordKind::Case, ["item"]) => "事项".to_owned(),
            (RecordKind::Case, ["title"]) => "标题".to_owned(),
            (RecordKind::Case, ["opened_on"]) => "立项日期".to_owned(),
            (RecordKind::Case, ["applicant"]) => "申请人".to_owned(),
            (RecordKind::Case, ["outcome"]) => "办理结果".to_owned(),
            (RecordKind::Case, ["closed_on"]) => "办结日期".to_owned(),
            (RecordKind::Case, ["notice", "from"]) => "公示开始".to_owned(),
            (RecordKind::Case, ["notice", "to"]) => "公示结束".to_owned(),
            (RecordKind::Case, ["notice", "place"]) => "公示地点".to_owned(),
            (RecordKind::Case, ["steps", code]) => format!("步骤「{}」", self.step(code)),
            (RecordKind::Case, ["steps", code, field]) => format!("步骤「{}」{}", self.step(code), step_field(field)),
            _ => p.join("/"),
        }
    }

    /// The name of a field inside an entry already named (a member's attendance, a case's
    /// step, a void): `请假事由`, not `请假事由 · 张三`.
    pub fn inner_field(&self, path: &[String]) -> String {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        match (self.kind, p.as_slice()) {
            (RecordKind::Meeting, ["attendance", _, field]) => attendance_field(field).to_owned(),
            (RecordKind::Case, ["steps", _, field]) => step_field(field).to_owned(),
            (_, ["voided", "reason"]) => "原因".to_owned(),
            (_, ["voided", "by"]) => "作废人".to_owned(),
            _ => self.field(path),
        }
    }

    /// A value as the township reads it: codes become names.
    pub fn value(&self, path: &[String], value: &str) -> String {
        let last = path.last().map(String::as_str);
        match (self.kind, last) {
            (RecordKind::Meeting, Some("kind")) => MeetingKind::from_code(value).map(|k| k.label().to_owned()),
            (RecordKind::Meeting, Some("status")) => AttendanceStatus::from_code(value).map(|s| s.label().to_owned()),
            (RecordKind::Case, Some("item")) => self.catalog.item(value).map(|i| i.name.to_string()),
            // The meeting a step was taken at, as the township knows meetings: kind and day.
            (RecordKind::Case, Some("meeting")) => zhibu_schema::RecordId::parse(value)
                .ok()
                .and_then(|id| self.records.meetings.get(&id))
                .map(|m| format!("{} {}", m.kind.label(), m.held_on)),
            _ => None,
        }
        .unwrap_or_else(|| value.to_owned())
    }
}

fn attendance_field(field: &str) -> &str {
    match field {
        "status" => "出勤",
        "reason" => "请假事由",
        "approved_by" => "批准人",
        "makeup_on" => "补课日期",
        other => other,
    }
}

fn step_field(field: &str) -> &str {
    match field {
        "done_on" => "办理日期",
        "by" => "经办人",
        "note" => "备注",
        "until" => "公示结束日期",
        "place" => "公示地点",
        "meeting" => "所在会议",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{VillageId, Year, sample};

    use super::*;

    #[test]
    fn paths_and_codes_read_in_chinese() {
        let v = VillageId::parse("v1").expect("id");
        let records = sample::roster(&v, Year::new(2026).expect("year"), 3, 1);
        let catalog = Catalog::default();
        let name = records.members.values().next().expect("member").name.to_string();
        let s = |p: &[&str]| p.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let meeting = Labels { kind: RecordKind::Meeting, records: &records, catalog: &catalog, item: None };
        assert_eq!(meeting.field(&s(&["held_on"])), "会议日期");
        assert_eq!(meeting.field(&s(&["attendance", "v1-m01", "status"])), format!("出勤 · {name}"));
        assert_eq!(meeting.value(&s(&["attendance", "v1-m01", "status"]), "absent"), "缺席");
        assert_eq!(meeting.value(&s(&["kind"]), "theme_day"), "主题党日");
        let case = Labels { kind: RecordKind::Case, records: &records, catalog: &catalog, item: Some("homestead") };
        assert_eq!(case.field(&s(&["steps", "notice", "done_on"])), "步骤「公示」办理日期");
        assert_eq!(case.field(&s(&["something", "new"])), "something/new");
        assert_eq!(case.field(&s(&["voided"])), "作废");
        assert_eq!(case.field(&s(&["steps", "notice"])), "步骤「公示」");
        assert_eq!(case.inner_field(&s(&["steps", "notice", "done_on"])), "办理日期");
        assert_eq!(meeting.field(&s(&["attendance", "v1-m01"])), format!("出勤 · {name}"));
        let mut with_meeting = records.clone();
        let id = zhibu_schema::RecordId::new_v7();
        let held = zhibu_schema::Date::parse("2026-03-05").expect("date");
        let lesson =
            zhibu_schema::Meeting::new(MeetingKind::PartyLesson, held, zhibu_schema::Line::parse("党课").expect("l"));
        with_meeting.meetings.insert(id.clone(), lesson.into());
        let case = Labels { kind: RecordKind::Case, records: &with_meeting, catalog: &catalog, item: None };
        assert_eq!(case.value(&s(&["steps", "assembly_review", "meeting"]), id.as_str()), "党课 2026-03-05");
    }
}
