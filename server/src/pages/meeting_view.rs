//! A meeting as the record book shows it (会议记录): the full record, attendance member by
//! member, quorum counted from those who were due, and whether it was entered late (补录).
//! The village page, the printable book and the book's XLSX all read this one view.

use serde::Serialize;
use zhibu_schema::derive::compliance::{due_members, unmarked_members};
use zhibu_schema::{AttendanceStatus, Meeting, MeetingKind, RecordId, quorum};

use super::clock;
use super::village_data::VillageData;

/// One member's attendance, by name.
#[derive(Debug, Clone)]
pub struct AttendanceRow {
    pub name: String,
    pub status: AttendanceStatus,
    pub reason: Option<String>,
    pub approved_by: Option<String>,
    pub makeup_on: Option<String>,
    /// On the roster on the meeting's day: only then does a leave or absence count.
    pub on_roster: bool,
    /// Due at the meeting: only then does being present count as 出席 (列席 otherwise).
    pub due: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuorumView {
    pub present: u32,
    pub due: u32,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeetingView {
    pub id: String,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub held_on: String,
    pub topic: String,
    pub place: Option<String>,
    pub host: Option<String>,
    pub recorder: Option<String>,
    pub group: Option<String>,
    pub resolutions: Option<String>,
    /// Why it was voided and by whom; a voided meeting does not count.
    pub voided: Option<String>,
    pub due: usize,
    /// Due members with no attendance entry at all (未记考勤), by name.
    pub unmarked: usize,
    pub unmarked_names: String,
    /// Members on the roster on the meeting's day, by status: the figures that count.
    pub present: usize,
    pub leave: usize,
    pub absent: usize,
    /// Present but not due (列席: not on the roster that day, or not of the committee or group).
    pub sitting_in: usize,
    #[serde(skip)]
    pub attendance: Vec<AttendanceRow>,
    /// Who came, who was on leave (with the reason), who was absent (with a make-up day),
    /// as lists of names: the record book's form.
    pub present_names: String,
    pub leave_names: String,
    pub absent_names: String,
    pub sitting_in_names: String,
    pub quorum: Option<QuorumView>,
    /// Its kind needs a quorum that cannot be counted (a committee meeting where the roster
    /// marks nobody on the committee).
    pub quorum_unknown: bool,
    pub first_seen: Option<String>,
    pub late_days: Option<i64>,
    /// Days its date is after the day the server first received it (提前录入).
    pub early_days: Option<i64>,
    /// When the server first received a change of its date or attendance after it had the
    /// meeting (同步后改动).
    pub edited_at: Option<String>,
    pub history_url: String,
}

impl AttendanceRow {
    /// Whether the entry counts: present, for one who was due (列席 otherwise); on leave or
    /// absent, for one on the roster that day.
    fn counts(&self) -> bool {
        if self.status == AttendanceStatus::Present { self.due } else { self.on_roster }
    }
}

fn text(v: Option<&impl ToString>) -> Option<String> {
    v.map(ToString::to_string)
}

impl MeetingView {
    pub fn new(data: &VillageData, id: &RecordId, m: &Meeting) -> MeetingView {
        let doc = &data.records;
        let requirement = data.catalog.requirement(m.kind);
        // Those who were due, by the same reckoning as the quorum: one present who was not (a
        // member not on the committee at its meeting, one of another group, one who had left)
        // sat in (列席), counted apart, so 出席 never exceeds 应到.
        let due_ids: Option<std::collections::HashSet<&zhibu_schema::MemberId>> =
            requirement.map(|r| due_members(doc, m, r.due).collect());
        let due = due_ids.as_ref().map_or(0, std::collections::HashSet::len);
        let unmarked: Vec<String> = unmarked_members(doc, m, &data.catalog)
            .into_iter()
            .map(|member| doc.member(member).map_or_else(|| member.to_string(), |p| p.name.to_string()))
            .collect();
        let q = requirement.and_then(|r| quorum(doc, m, r.quorum));
        let attendance: Vec<AttendanceRow> = m
            .attendance
            .iter()
            .map(|(member, a)| {
                let person = doc.member(member);
                let on_roster = person.is_some_and(|p| p.active_on(m.held_on));
                AttendanceRow {
                    name: person.map_or_else(|| member.to_string(), |p| p.name.to_string()),
                    status: a.status,
                    reason: text(a.reason.as_ref()),
                    approved_by: text(a.approved_by.as_ref()),
                    makeup_on: text(a.makeup_on.as_ref()),
                    on_roster,
                    due: due_ids.as_ref().map_or(on_roster, |ids| ids.contains(member)),
                }
            })
            .collect();
        let count = |s: AttendanceStatus, counted: bool| {
            attendance.iter().filter(|a| a.status == s && a.counts() == counted).count()
        };
        let arrival = data.arrivals.meetings.get(id.as_str());
        let mut view = MeetingView {
            id: id.to_string(),
            kind: m.kind.code(),
            kind_label: m.kind.label(),
            held_on: m.held_on.to_string(),
            topic: m.topic.to_string(),
            place: text(m.place.as_ref()),
            host: text(m.host.as_ref()),
            recorder: text(m.recorder.as_ref()),
            group: text(m.group.as_ref()),
            resolutions: text(m.resolutions.as_ref()),
            voided: m.voided.as_ref().map(|v| format!("已作废（{}，{}）", v.reason, v.by)),
            due,
            unmarked: unmarked.len(),
            unmarked_names: unmarked.join("、"),
            present: count(AttendanceStatus::Present, true),
            leave: count(AttendanceStatus::Leave, true),
            absent: count(AttendanceStatus::Absent, true),
            sitting_in: count(AttendanceStatus::Present, false),
            attendance,
            quorum: q.map(|q| QuorumView { present: q.present, due: q.due, met: q.met() }),
            quorum_unknown: q.is_none() && requirement.is_some_and(|r| r.quorum != zhibu_schema::Quorum::None),
            first_seen: arrival.map(|a| clock::format_ms(a.first_seen_at)),
            late_days: arrival.and_then(|a| a.late_days),
            early_days: arrival.and_then(|a| a.early_days),
            edited_at: data.arrivals.edited.get(id.as_str()).map(|&at| clock::format_ms(at)),
            history_url: format!("/villages/{}/history/meeting/{id}?year={}", data.key.village, data.year()),
            present_names: String::new(),
            leave_names: String::new(),
            absent_names: String::new(),
            sitting_in_names: String::new(),
        };
        view.present_names = view.names(AttendanceStatus::Present, Some(true));
        view.leave_names = view.names(AttendanceStatus::Leave, None);
        view.absent_names = view.names(AttendanceStatus::Absent, None);
        view.sitting_in_names = view.names(AttendanceStatus::Present, Some(false));
        view
    }

    /// Names of the members with an attendance status (those whose entry counts or not, if
    /// `counted` says), joined for one line. A leave or absence of a member not on the roster
    /// that day is still shown, as recorded, and said not to count.
    fn names(&self, status: AttendanceStatus, counted: Option<bool>) -> String {
        let names: Vec<String> = self
            .attendance
            .iter()
            .filter(|a| a.status == status && counted.is_none_or(|c| a.counts() == c))
            .map(|a| {
                let name = match (&a.reason, &a.makeup_on) {
                    (Some(r), _) => match &a.approved_by {
                        Some(by) => format!("{}（{r}，{by} 批准）", a.name),
                        None => format!("{}（{r}）", a.name),
                    },
                    (None, Some(d)) => format!("{}（{d} 补课）", a.name),
                    (None, None) => a.name.clone(),
                };
                if a.on_roster || status == AttendanceStatus::Present {
                    name
                } else {
                    format!("{name}（当日不在名册，不计）")
                }
            })
            .collect();
        names.join("、")
    }
}

/// Every meeting of the village's year, by date.
pub fn meetings(data: &VillageData) -> Vec<MeetingView> {
    let mut out: Vec<MeetingView> = data.records.meetings.iter().map(|(id, m)| MeetingView::new(data, id, m)).collect();
    out.sort_by(|a, b| (&a.held_on, &a.id).cmp(&(&b.held_on, &b.id)));
    out
}

/// The meetings grouped by kind, in the catalog's order of kinds (every kind, even if empty).
pub fn by_kind(meetings: &[MeetingView]) -> Vec<(MeetingKind, Vec<&MeetingView>)> {
    MeetingKind::ALL.into_iter().map(|k| (k, meetings.iter().filter(|m| m.kind == k.code()).collect())).collect()
}
