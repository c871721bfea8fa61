//! A member's yearly score (合格党员积分): base + attendance-derived points + manual entries.
//! Nothing here is stored; the phone and the server call the same function and get the same
//! figures. Voided meetings and entries never count, nor attendance at a meeting held while the
//! member was not on the roster (before they joined or arrived, after they left). Who is on the
//! committee or in a group is as the roster stands now, with no history: attendance recorded
//! at a committee or group meeting counts as recorded.

use serde::{Deserialize, Serialize};

use crate::catalog::{ATTEND_ABSENT, ATTEND_MAKEUP, ATTEND_PRESENT};
use crate::{AttendanceStatus, Catalog, Code, Date, Grade, MemberId, MemberStatus, RecordId, RuleSource, VillageYear};

/// One line of a member's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    pub on: Date,
    pub rule: Code,
    pub delta: i32,
    pub source: RuleSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The meeting or point entry it comes from.
    pub record: RecordId,
}

/// A member's score for the year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberScore {
    pub member_id: MemberId,
    pub name: String,
    pub status: MemberStatus,
    pub base: i32,
    pub total: i32,
    /// None for probationary members and members who left during the year, who are not
    /// graded ([`crate::Member::graded_in`]).
    pub grade: Option<Grade>,
    /// The day the member left the branch, when they left during the year (why no grade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_on: Option<Date>,
    /// By date, attendance before manual entries on the same day.
    pub entries: Vec<ScoreEntry>,
    /// Meetings the member was on approved leave from (请假), by date: they neither add nor take
    /// away, but the member sees that the leave was recorded, and with what reason.
    #[serde(default)]
    pub leaves: Vec<LeaveLine>,
}

/// A meeting a member was on leave from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveLine {
    pub on: Date,
    /// The meeting: its kind and topic (主题党日：学习新思想).
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub record: RecordId,
}

impl LeaveLine {
    /// The reason and who approved it, as the member reads them (事由：外出务工，批准人：王书记).
    pub fn described(&self) -> String {
        let mut s = match &self.reason {
            Some(r) => format!("事由：{r}"),
            None => "未写事由".to_owned(),
        };
        if let Some(who) = &self.approved_by {
            s += &format!("，批准人：{who}");
        }
        s
    }
}

/// The score of one member, or None when the member is not on the roster.
pub fn member_score(doc: &VillageYear, catalog: &Catalog, member_id: &MemberId) -> Option<MemberScore> {
    let member = doc.members.get(member_id)?;
    let mut entries = Vec::new();
    let mut leaves = Vec::new();
    let attendance_entry = |code: &str, on: Date, note: String, record: &RecordId| {
        Code::parse(code).ok().map(|rule| ScoreEntry {
            on,
            rule,
            delta: catalog.attendance_points(code),
            source: RuleSource::Attendance,
            note: Some(note),
            record: record.clone(),
        })
    };
    for (id, meeting) in doc.live_meetings() {
        let Some(a) = meeting.attendance.get(member_id) else { continue };
        if !member.active_on(meeting.held_on) {
            continue;
        }
        let what = format!("{}：{}", meeting.kind.label(), meeting.topic);
        match a.status {
            AttendanceStatus::Present => entries.extend(attendance_entry(ATTEND_PRESENT, meeting.held_on, what, id)),
            AttendanceStatus::Absent => {
                entries.extend(attendance_entry(ATTEND_ABSENT, meeting.held_on, what.clone(), id));
                if let Some(day) = a.makeup_on {
                    entries.extend(attendance_entry(ATTEND_MAKEUP, day, format!("补课 {what}"), id));
                }
            }
            // Approved leave neither earns nor loses points.
            AttendanceStatus::Leave => leaves.push(LeaveLine {
                on: meeting.held_on,
                what,
                reason: a.reason.as_ref().map(ToString::to_string),
                approved_by: a.approved_by.as_ref().map(ToString::to_string),
                record: id.clone(),
            }),
        }
    }
    for (id, p) in doc.live_points() {
        if &p.member_id == member_id {
            entries.push(ScoreEntry {
                on: p.on,
                rule: p.rule.clone(),
                delta: p.delta.get(),
                source: RuleSource::Manual,
                note: p.note.as_ref().map(ToString::to_string),
                record: id.clone(),
            });
        }
    }
    entries.sort_by(|a, b| {
        (a.on, a.source == RuleSource::Manual, &a.record).cmp(&(b.on, b.source == RuleSource::Manual, &b.record))
    });
    leaves.sort_by(|a, b| (a.on, &a.record).cmp(&(b.on, &b.record)));
    let total = catalog.base_score + entries.iter().map(|e| e.delta).sum::<i32>();
    let grade = member.graded_in(doc.year).then(|| catalog.grade_of(total));
    Some(MemberScore {
        member_id: member_id.clone(),
        name: member.name.to_string(),
        status: member.status,
        base: catalog.base_score,
        total,
        grade,
        left_on: member.left_by(doc.year),
        entries,
        leaves,
    })
}

/// Every member's score, in roster order.
pub fn all_scores(doc: &VillageYear, catalog: &Catalog) -> Vec<MemberScore> {
    doc.members.keys().filter_map(|id| member_score(doc, catalog, id)).collect()
}

/// A member's total and grade, without the lines that make it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTotal {
    pub member_id: MemberId,
    pub total: i32,
    /// None for probationary members and members who left during the year.
    pub grade: Option<Grade>,
}

/// Every member's total and grade, in roster order: what [`all_scores`] gives without the
/// lines, in one pass over the records (the server's projections need only these).
pub fn all_totals(doc: &VillageYear, catalog: &Catalog) -> Vec<MemberTotal> {
    let mut totals: std::collections::BTreeMap<&MemberId, i32> =
        doc.members.keys().map(|id| (id, catalog.base_score)).collect();
    let (present, absent, makeup) = (
        catalog.attendance_points(ATTEND_PRESENT),
        catalog.attendance_points(ATTEND_ABSENT),
        catalog.attendance_points(ATTEND_MAKEUP),
    );
    for (_, meeting) in doc.live_meetings() {
        for (member, a) in &meeting.attendance {
            let Some(t) = totals.get_mut(member) else { continue };
            if !doc.members.get(member).is_some_and(|m| m.active_on(meeting.held_on)) {
                continue;
            }
            *t += match a.status {
                AttendanceStatus::Present => present,
                AttendanceStatus::Absent => absent + if a.makeup_on.is_some() { makeup } else { 0 },
                AttendanceStatus::Leave => 0,
            };
        }
    }
    for (_, p) in doc.live_points() {
        if let Some(t) = totals.get_mut(&p.member_id) {
            *t += p.delta.get();
        }
    }
    doc.members
        .iter()
        .map(|(id, m)| {
            let total = totals[id];
            MemberTotal { member_id: id.clone(), total, grade: m.graded_in(doc.year).then(|| catalog.grade_of(total)) }
        })
        .collect()
}

/// How many full members fall in each grade, in [`Grade::ALL`] order.
pub fn grade_distribution(scores: &[MemberScore]) -> [(Grade, usize); 4] {
    Grade::ALL.map(|g| (g, scores.iter().filter(|s| s.grade == Some(g)).count()))
}
