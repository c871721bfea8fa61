//! Meeting edits: record a meeting with its attendance in one call; change one member's
//! attendance or make-up date; void a meeting with a reason.

use automerge::ReadDoc;
use zhibu_schema::mapping::{put_at, put_record_id, replace_at};
use zhibu_schema::{
    Attendance, AttendanceStatus, Collection, Date, Meeting, MemberId, Prose, RecordId, Rule, Violation, Voided,
};

use super::{MeetingEdit, key_for, map_at};
use crate::error::{ClientError, EditRefusal};
use crate::{DocKey, Phone};

impl Phone {
    /// Records a meeting of any kind with its attendance, as one change in the document of the
    /// year it was held. Returns the new meeting's id.
    pub fn record_meeting(&self, meeting: &Meeting) -> Result<RecordId, ClientError> {
        let key = key_for(self, meeting.held_on, Collection::Meetings, "held_on")?;
        let id = RecordId::new_v7();
        let meeting = Meeting { voided: None, ..meeting.clone() };
        self.refuse_off_roster(&key, &id, &meeting, meeting.attendance.iter())?;
        let message = format!("记录会议：{} {}", meeting.kind.label(), meeting.held_on);
        self.commit(&key, message, |tx, _| put_record_id(tx, Collection::Meetings, &id, &meeting))?;
        Ok(id)
    }

    /// Sets one member's attendance at a meeting (present; leave with reason and approver;
    /// absent; with or without a make-up date), touching no other member's. The member's entry
    /// is written whole, as one value: two phones that set it differently offline leave a
    /// conflict of two whole entries, one shown, never a mix of their fields (a leave with the
    /// other phone's make-up, present with a reason).
    pub fn set_attendance(
        &self,
        meeting: &RecordId,
        member: &MemberId,
        attendance: &Attendance,
    ) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Meetings, meeting)?;
        let record = self.with(|inner| Ok(inner.records(&key)?.meetings.get(meeting).cloned()))?;
        if let Some(record) = record {
            self.refuse_off_roster(&key, meeting, &record, [(member, attendance)].into_iter())?;
        }
        let message = format!("修改考勤：{} {}", self.member_label(&key, member), attendance.status.label());
        self.commit(&key, message, |tx, _| {
            replace_at(tx, &["meetings", meeting.as_str(), "attendance", member.as_str()], attendance)
        })
    }

    /// Refuses to mark absent or on leave a member who was not on the roster on the day of the
    /// meeting (had left, had not joined or arrived yet): their absence costs nothing, and the
    /// record would say they were asked to come. Present stays allowed (列席). Committee seats
    /// and groups have no history, so those are the command line's warning, not a refusal.
    fn refuse_off_roster<'a>(
        &self,
        key: &DocKey,
        id: &RecordId,
        meeting: &Meeting,
        marks: impl Iterator<Item = (&'a MemberId, &'a Attendance)>,
    ) -> Result<(), ClientError> {
        let records = self.with(|inner| inner.records(key))?;
        let day = meeting.held_on;
        let violations: Vec<Violation> = marks
            .filter(|(_, a)| a.status != AttendanceStatus::Present)
            .filter_map(|(member_id, a)| {
                let why = super::off_roster(records.members.get(member_id)?, day)?;
                let message = format!("{why}，不是这次会议的应到党员，不能记为{}（列席可记为出席）", a.status.label());
                let field = format!("attendance.{member_id}");
                Some(Violation::new(Collection::Meetings, id.as_str(), field, Rule::BadValue, message))
            })
            .collect();
        if violations.is_empty() { Ok(()) } else { Err(ClientError::Refused(EditRefusal { violations })) }
    }

    /// Records the day a member who missed a meeting made it up (补课), changing nothing else of
    /// their entry (written whole, as [`Phone::set_attendance`] writes it).
    pub fn record_makeup(&self, meeting: &RecordId, member: &MemberId, on: Date) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Meetings, meeting)?;
        let entry = self.with(|inner| {
            Ok(inner.records(&key)?.meetings.get(meeting).and_then(|m| m.attendance.get(member)).cloned())
        })?;
        let Some(entry) = entry else {
            return Err(ClientError::NoSuchRecord {
                collection: Collection::Members,
                id: format!("{member}（该会议的考勤中没有此人）"),
            });
        };
        let message = format!("记录补课：{} {on}", self.member_label(&key, member));
        let path = ["meetings", meeting.as_str(), "attendance", member.as_str()];
        self.commit(&key, message, |tx, _| {
            // The entry as the document holds it now, not as read above: a sync that came in
            // meanwhile (another phone's correction of the status) is kept, not written back.
            let mut now = match map_at(&*tx, &path).and_then(|obj| tx.hydrate(&obj, None).ok()) {
                Some(held) => crate::replica::json::hydrated_json(&held),
                None => serde_json::to_value(&entry)?,
            };
            now["makeup_on"] = serde_json::json!(on);
            replace_at(tx, &path, &now)
        })
    }

    /// Corrects a meeting's fields, writing only those `edit` gives, as one change. A date in
    /// another year than the meeting's is refused (its document is that year's). Returns
    /// whether anything changed (nothing is written when every field already says so). The
    /// township sees a date changed after the meeting synced (同步后改动), as it sees changed
    /// attendance.
    pub fn edit_meeting(&self, meeting: &RecordId, edit: &MeetingEdit) -> Result<bool, ClientError> {
        let key = self.locate_live(Collection::Meetings, meeting)?;
        if let Some(day) = edit.held_on
            && i64::from(day.year_number()) != i64::from(key.year)
        {
            return Err(ClientError::Refused(crate::error::EditRefusal {
                violations: vec![zhibu_schema::Violation::new(
                    Collection::Meetings,
                    meeting.as_str(),
                    "held_on",
                    zhibu_schema::Rule::DateOutsideYear,
                    format!("会议日期只能改在 {} 年之内；记错了年份的会议请作废后在 {day} 所在年份重新记录", key.year),
                )],
            }));
        }
        let before = self.pending_edits();
        let what = self.text(&key, &["meetings", meeting.as_str(), "topic"]).unwrap_or_default();
        let given = [
            (edit.held_on.is_some(), "日期"),
            (edit.topic.is_some(), "议题"),
            (edit.place.is_some(), "地点"),
            (edit.host.is_some(), "主持人"),
            (edit.recorder.is_some(), "记录人"),
            (edit.group.is_some(), "党小组"),
            (edit.resolutions.is_some(), "决议"),
        ];
        let fields: Vec<&str> = given.iter().filter(|(g, _)| *g).map(|(_, label)| *label).collect();
        if fields.is_empty() {
            return Ok(false);
        }
        let message = format!("更正会议：{what}（{}）", fields.join("、"));
        self.commit(&key, message, |tx, _| {
            let path = |field: &'static str| ["meetings", meeting.as_str(), field];
            if let Some(v) = &edit.held_on {
                put_at(tx, &path("held_on"), v)?;
            }
            if let Some(v) = &edit.topic {
                put_at(tx, &path("topic"), v)?;
            }
            for (field, v) in
                [("place", &edit.place), ("host", &edit.host), ("recorder", &edit.recorder), ("group", &edit.group)]
            {
                if let Some(v) = v {
                    put_at(tx, &path(field), v)?;
                }
            }
            if let Some(v) = &edit.resolutions {
                put_at(tx, &path("resolutions"), v)?;
            }
            Ok(())
        })?;
        Ok(self.pending_edits() > before)
    }

    /// Voids a meeting: it stays in the record with the reason and no longer counts.
    pub fn void_meeting(&self, meeting: &RecordId, reason: &Prose) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Meetings, meeting)?;
        let what = self.text(&key, &["meetings", meeting.as_str(), "topic"]).unwrap_or_default();
        self.commit(&key, format!("作废会议：{what}（{reason}）"), |tx, by| {
            put_at(tx, &["meetings", meeting.as_str(), "voided"], &Voided { reason: reason.clone(), by: by.clone() })
        })
    }

    /// A member's name and id for commit messages (just the id when not on the roster).
    pub(crate) fn member_label(&self, key: &DocKey, member: &MemberId) -> String {
        match self.text(key, &["members", member.as_str(), "name"]) {
            Some(name) => format!("{name}（{member}）"),
            None => member.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{AttendanceStatus, MeetingKind, Name};

    use super::*;
    use crate::testutil::*;

    fn assembly(present: &[&str]) -> Meeting {
        let mut m = Meeting::new(MeetingKind::BranchAssembly, d("2026-03-10"), text("学习贯彻全会精神"));
        for id in present {
            m.attendance.insert(mid(id), Attendance::present());
        }
        m
    }

    #[test]
    fn a_meeting_with_its_attendance_is_one_change() {
        let t = cadre_phone();
        let (n, _) = history(&t.phone);
        let mut m = assembly(&["v1-m01", "v1-m02"]);
        m.attendance.insert(mid("v1-m03"), Attendance::leave(text("外出务工"), Some(Name::parse("王书记").unwrap())));
        let id = t.phone.record_meeting(&m).unwrap();
        assert_eq!(t.phone.records(year()).unwrap().meetings.get(&id).map(|m| &**m), Some(&m));
        assert_eq!(history(&t.phone), (n + 1, Some("记录会议：支部党员大会 2026-03-10".to_owned())));
    }

    #[test]
    fn a_correction_writes_only_the_fields_it_gives() {
        let t = cadre_phone();
        let mut m = assembly(&["v1-m01", "v1-m02"]);
        m.place = Some(Name::parse("村委会议室").unwrap());
        let id = t.phone.record_meeting(&m).unwrap();
        let (n, _) = history(&t.phone);
        let edit = MeetingEdit {
            held_on: Some(d("2026-03-12")),
            resolutions: Some(text("一、通过年度计划")),
            ..MeetingEdit::default()
        };
        assert!(t.phone.edit_meeting(&id, &edit).unwrap());
        let now = (*t.phone.records(year()).unwrap().meetings[&id]).clone();
        let expected = Meeting { held_on: d("2026-03-12"), resolutions: Some(text("一、通过年度计划")), ..m };
        assert_eq!(now, expected, "the place and attendance as they were");
        assert_eq!(history(&t.phone), (n + 1, Some("更正会议：学习贯彻全会精神（日期、决议）".to_owned())));
        assert!(!t.phone.edit_meeting(&id, &edit).unwrap(), "nothing to change");
        assert!(!t.phone.edit_meeting(&id, &MeetingEdit::default()).unwrap());
        assert_eq!(history(&t.phone).0, n + 1);
        assert_refused(&t, "会议日期只能改在 2026 年之内", |p| {
            p.edit_meeting(&id, &MeetingEdit { held_on: Some(d("2027-01-02")), ..MeetingEdit::default() })
        });
        t.phone.void_meeting(&id, &text("重复录入")).unwrap();
        assert_refused(&t, "已作废", |p| {
            p.edit_meeting(&id, &MeetingEdit { topic: Some(text("改")), ..MeetingEdit::default() })
        });
    }

    #[test]
    fn attendance_of_someone_not_on_the_roster_is_refused() {
        let t = cadre_phone();
        assert_refused(&t, "党员「stranger」不在本村党员名册上", |p| {
            p.record_meeting(&assembly(&["v1-m01", "stranger"]))
        });
    }

    #[test]
    fn a_group_meeting_must_name_its_group_and_leave_needs_a_reason() {
        let t = cadre_phone();
        let group = Meeting::new(MeetingKind::GroupMeeting, d("2026-03-12"), text("小组学习"));
        assert_refused(&t, "党小组会须写明是哪个党小组", |p| p.record_meeting(&group));
        let mut m = assembly(&[]);
        m.attendance.insert(mid("v1-m04"), Attendance { reason: None, ..Attendance::leave(text("x"), None) });
        assert_refused(&t, "请假须写明请假事由", |p| p.record_meeting(&m));
    }

    #[test]
    fn only_members_on_the_roster_that_day_can_be_marked_absent_or_on_leave() {
        let t = cadre_phone();
        // A member who had left by the day of the meeting.
        t.phone.change_member(year(), &mid("v1-m05"), &crate::MemberChange::Left(d("2026-03-01"))).unwrap();
        let name = t.phone.records(year()).unwrap().members[&mid("v1-m05")].name.to_string();
        let mut m = assembly(&["v1-m01"]);
        m.attendance.insert(mid("v1-m05"), Attendance::absent());
        assert_refused(
            &t,
            &format!("{name}已于 2026-03-01 离开支部，不是这次会议的应到党员，不能记为缺席"),
            |p| p.record_meeting(&m),
        );
        // Sitting in (列席) is recorded as present.
        m.attendance.insert(mid("v1-m05"), Attendance::present());
        let id = t.phone.record_meeting(&m).unwrap();
        assert_refused(&t, "不能记为请假", |p| {
            p.set_attendance(&id, &mid("v1-m05"), &Attendance::leave(text("外出"), None))
        });
        // Committee seats have no history: a committee meeting may mark anyone the cadre names.
        let mut committee = Meeting::new(MeetingKind::BranchCommittee, d("2026-03-12"), text("支委会"));
        committee.attendance.insert(mid("v1-m10"), Attendance::absent());
        t.phone.record_meeting(&committee).unwrap();
    }

    #[test]
    fn one_members_attendance_changes_alone() {
        let t = cadre_phone();
        let id = t.phone.record_meeting(&assembly(&["v1-m01", "v1-m02"])).unwrap();
        t.phone.set_attendance(&id, &mid("v1-m02"), &Attendance::absent()).unwrap();
        let m = t.phone.records(year()).unwrap().meetings[&id].clone();
        assert_eq!(m.attendance[&mid("v1-m02")].status, AttendanceStatus::Absent);
        assert_eq!(m.attendance[&mid("v1-m01")].status, AttendanceStatus::Present);
        assert!(history(&t.phone).1.unwrap().starts_with("修改考勤："));
        t.phone.record_makeup(&id, &mid("v1-m02"), d("2026-03-20")).unwrap();
        assert_eq!(
            t.phone.records(year()).unwrap().meetings[&id].attendance[&mid("v1-m02")].makeup_on,
            Some(d("2026-03-20"))
        );
    }

    #[test]
    fn make_up_is_for_absentees_and_after_the_meeting() {
        let t = cadre_phone();
        let id = t.phone.record_meeting(&assembly(&["v1-m01"])).unwrap();
        assert_refused(&t, "已出席的党员不需要补课", |p| {
            p.record_makeup(&id, &mid("v1-m01"), d("2026-03-20"))
        });
        t.phone.set_attendance(&id, &mid("v1-m01"), &Attendance::absent()).unwrap();
        assert_refused(&t, "补课日期 2026-03-01 早于会议日期 2026-03-10", |p| {
            p.record_makeup(&id, &mid("v1-m01"), d("2026-03-01"))
        });
        assert_refused(&t, "该会议的考勤中没有此人", |p| {
            p.record_makeup(&id, &mid("v1-m05"), d("2026-03-20"))
        });
    }

    #[test]
    fn a_voided_meeting_keeps_its_reason_and_cannot_be_edited() {
        let t = cadre_phone();
        let id = t.phone.record_meeting(&assembly(&["v1-m01"])).unwrap();
        t.phone.void_meeting(&id, &text("重复录入")).unwrap();
        let voided = t.phone.records(year()).unwrap().meetings[&id].voided.clone().unwrap();
        assert_eq!((voided.reason.as_str(), voided.by.as_str()), ("重复录入", "cadre1"));
        assert_refused(&t, "已作废，不能再修改", |p| {
            p.set_attendance(&id, &mid("v1-m01"), &Attendance::absent())
        });
        assert_refused(&t, "已作废", |p| p.void_meeting(&id, &text("再次作废")));
    }

    #[test]
    fn editing_an_unknown_meeting_is_refused() {
        let t = cadre_phone();
        assert_refused(&t, "手机上找不到会议", |p| {
            p.set_attendance(&RecordId::new_v7(), &mid("v1-m01"), &Attendance::present())
        });
    }

    #[test]
    fn a_meeting_outside_the_supported_years_is_refused() {
        let t = cadre_phone();
        let m = Meeting::new(MeetingKind::ThemeDay, d("1999-07-01"), text("旧会议"));
        assert_refused(&t, "年份 1999 不在 2000 到 2100 之间", |p| p.record_meeting(&m));
    }
}
