//! Compliance of a village with the meeting requirements ("三会一课", theme day, 组织生活会):
//! per kind, party group where the requirement is per group, and period, the meetings held
//! against those required, and whether assemblies and committee meetings had their quorum.
//! Quorum is computed from the members who were due, never from those who came. A meeting
//! without its quorum is listed and does not count towards the requirement.

use serde::{Deserialize, Serialize};

use crate::{
    AttendanceStatus, Date, Due, Meeting, MeetingKind, MemberId, MemberStatus, Period, Quorum, RecordId, VillageYear,
};
use crate::{Catalog, MeetingRequirement};

/// Where a period stands on the day the figures are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodState {
    /// Enough valid meetings.
    Met,
    /// The period is over and meetings are missing.
    Missing,
    /// The period is under way and not yet met.
    Pending,
    /// The period has not started.
    Future,
}

impl PeriodState {
    /// Where a period from `first` to `last` stands on `as_of` with `valid` of `required`
    /// meetings held.
    pub fn on(required: u32, valid: u32, first: Date, last: Date, as_of: Date) -> PeriodState {
        if valid >= required {
            PeriodState::Met
        } else if last < as_of {
            PeriodState::Missing
        } else if first > as_of {
            PeriodState::Future
        } else {
            PeriodState::Pending
        }
    }
}

/// One requirement in one period (and group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceRow {
    pub kind: MeetingKind,
    pub group: Option<String>,
    pub period: Period,
    pub required: u32,
    /// Meetings held, voided ones excepted.
    pub held: u32,
    /// Meetings held that met their quorum (or need none).
    pub valid: u32,
    pub quorum_failures: Vec<RecordId>,
    pub state: PeriodState,
}

/// Attendance counted against a quorum rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumCount {
    pub present: u32,
    pub due: u32,
}

impl QuorumCount {
    /// More than half of those due were present.
    pub fn met(self) -> bool {
        self.due > 0 && self.present * 2 > self.due
    }
}

/// The quorum count of a meeting, or None when its kind needs none, or when it cannot be
/// counted: a committee meeting of a branch whose roster marks nobody on the committee (the
/// township is told to mark them, rather than every such meeting failing).
pub fn quorum(doc: &VillageYear, meeting: &Meeting, rule: Quorum) -> Option<QuorumCount> {
    let counts = |m: &crate::Member| match rule {
        Quorum::None => false,
        Quorum::MajorityOfFull => m.status_on(meeting.held_on) == MemberStatus::Full,
        Quorum::MajorityOfCommittee => m.committee,
    };
    if rule == Quorum::None {
        return None;
    }
    let mut c = QuorumCount { present: 0, due: 0 };
    for (id, m) in &doc.members {
        if m.active_on(meeting.held_on) && counts(m) {
            c.due += 1;
            if meeting.attendance.get(id).is_some_and(|a| a.status == AttendanceStatus::Present) {
                c.present += 1;
            }
        }
    }
    if rule == Quorum::MajorityOfCommittee && c.due == 0 {
        return None;
    }
    Some(c)
}

/// The members due at a meeting under its kind's requirement.
pub fn due_members<'a>(
    doc: &'a VillageYear,
    meeting: &'a Meeting,
    due: Due,
) -> impl Iterator<Item = &'a crate::MemberId> {
    doc.members.iter().filter(move |(_, m)| due_at(m, meeting, due)).map(|(id, _)| id)
}

/// Whether `member` was due at `meeting` under `due`: on the roster that day, and of those the
/// kind asks for (its committee, its group's members, or everyone, as the roster stands now).
pub fn due_at(member: &crate::Member, meeting: &Meeting, due: Due) -> bool {
    member.active_on(meeting.held_on)
        && match due {
            Due::All => true,
            Due::Committee => member.committee,
            Due::Group => member.group.is_some() && member.group == meeting.group,
        }
}

/// The members due at a meeting (under its kind's requirement in `catalog`) who have no
/// attendance entry at all: neither present, on leave nor absent. A record that leaves a member
/// out spares them an absence's deduction, so these are shown to the township (未记考勤).
pub fn unmarked_members<'a>(doc: &'a VillageYear, meeting: &'a Meeting, catalog: &Catalog) -> Vec<&'a MemberId> {
    due_members(doc, meeting, due_of(meeting.kind, catalog))
        .filter(|id| !meeting.attendance.contains_key(*id))
        .collect()
}

/// Who is due at meetings of a kind: as the catalog's requirement says; for a kind it does not
/// require, by the kind itself (a committee meeting its committee, a group meeting its group's
/// members, any other every member).
pub fn due_of(kind: MeetingKind, catalog: &Catalog) -> Due {
    match catalog.requirement(kind) {
        Some(req) => req.due,
        None => match kind {
            MeetingKind::BranchCommittee => Due::Committee,
            MeetingKind::GroupMeeting => Due::Group,
            _ => Due::All,
        },
    }
}

impl ComplianceRow {
    /// Whether a meeting of `kind` (of `group`) held on `held_on` is one this row counts.
    fn counts(&self, year: crate::Year, kind: MeetingKind, group: Option<&str>, held_on: Date) -> bool {
        kind == self.kind
            && year.contains(held_on)
            && self.period.contains(held_on)
            && (self.group.is_none() || self.group.as_deref() == group)
    }

    /// Leaves out of a row made from every meeting of the year (the server's stored rows) the
    /// meeting `id`, dated after `as_of`: entered ahead, it is planned, not held yet
    /// ([`compliance`] counts none such). The row's state is as of `as_of` again.
    pub fn leave_out_ahead(
        &mut self,
        year: crate::Year,
        id: &RecordId,
        (kind, group, held_on): (MeetingKind, Option<&str>, Date),
        as_of: Date,
    ) {
        if held_on <= as_of || !self.counts(year, kind, group, held_on) {
            return;
        }
        self.held = self.held.saturating_sub(1);
        match self.quorum_failures.iter().position(|f| f == id) {
            Some(at) => drop(self.quorum_failures.remove(at)),
            None => self.valid = self.valid.saturating_sub(1),
        }
        let (first, last) = (self.period.first_day(year), self.period.last_day(year));
        self.state = PeriodState::on(self.required, self.valid, first, last, as_of);
    }
}

/// Every requirement of the catalog, per period of its cadence (and per group), for the year of
/// the document, as it stands on `as_of`: a meeting dated after it (entered ahead) is planned,
/// not held, and is not counted.
pub fn compliance(doc: &VillageYear, catalog: &Catalog, as_of: Date) -> Vec<ComplianceRow> {
    let mut rows = Vec::new();
    let all_groups = doc.groups();
    for req in &catalog.meetings {
        let units: Vec<Option<String>> = match req.due {
            Due::Group => all_groups.iter().map(|g| Some((*g).to_owned())).collect(),
            Due::All | Due::Committee => vec![None],
        };
        for period in Period::all(req.cadence) {
            for group in &units {
                if anyone_due(doc, req.due, group.as_deref(), period) {
                    rows.push(row(doc, req, period, group.clone(), as_of));
                }
            }
        }
    }
    rows
}

/// The full members from which a branch elects a committee (DOMAIN.md: a committee of 3–5
/// where the branch has 7 or more full members).
pub const COMMITTEE_FROM_FULL_MEMBERS: usize = 7;

/// Whether anyone owes a meeting under `due` (in `group`) at some time in `period`. A branch
/// too small for a committee owes no committee meetings, but one with
/// [`COMMITTEE_FROM_FULL_MEMBERS`] full members does even when its roster marks nobody on the
/// committee (a roster that forgot to must not make the requirement vanish); a group whose
/// members have all left owes no group meetings; a requirement of every member holds whatever
/// the roster says.
fn anyone_due(doc: &VillageYear, due: Due, group: Option<&str>, period: Period) -> bool {
    let (first, last) = (period.first_day(doc.year), period.last_day(doc.year));
    let on_roster = |m: &crate::Member| m.active_during(first, last);
    let full = || doc.members.values().filter(|m| on_roster(m) && m.status_on(last) == MemberStatus::Full).count();
    match due {
        Due::All => true,
        Due::Committee => {
            doc.members.values().any(|m| m.committee && on_roster(m)) || full() >= COMMITTEE_FROM_FULL_MEMBERS
        }
        Due::Group => doc.members.values().any(|m| m.group.as_ref().map(|g| g.as_str()) == group && on_roster(m)),
    }
}

fn row(
    doc: &VillageYear,
    req: &MeetingRequirement,
    period: Period,
    group: Option<String>,
    as_of: Date,
) -> ComplianceRow {
    let mut out = ComplianceRow {
        kind: req.kind,
        group,
        period,
        required: req.min_count,
        held: 0,
        valid: 0,
        quorum_failures: Vec::new(),
        state: PeriodState::Future,
    };
    for (id, m) in doc.live_meetings() {
        if m.held_on > as_of || !out.counts(doc.year, m.kind, m.group.as_ref().map(|g| g.as_str()), m.held_on) {
            continue;
        }
        out.held += 1;
        if quorum(doc, m, req.quorum).is_some_and(|q| !q.met()) {
            out.quorum_failures.push(id.clone());
        }
    }
    out.valid = out.held - out.quorum_failures.len() as u32;
    out.state = PeriodState::on(out.required, out.valid, period.first_day(doc.year), period.last_day(doc.year), as_of);
    out
}

/// Compliance of one kind (and group) over a chosen period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSummary {
    pub kind: MeetingKind,
    pub group: Option<String>,
    /// Required in the periods that have started.
    pub required: u32,
    pub held: u32,
    pub valid: u32,
    /// The valid meetings that count toward `required`: in each period that has started, at
    /// most its requirement, so that three theme days in January do not make up for none in
    /// February. `counted < required` once those periods have ended is a shortfall.
    #[serde(default)]
    pub counted: u32,
    pub quorum_failures: Vec<RecordId>,
    /// A period that has ended is short of meetings.
    pub behind: bool,
    /// A period under way is not yet met.
    pub pending: bool,
}

/// Sums the rows inside `period`. A requirement whose cadence is coarser than `period` (a
/// quarterly one in a month view) is shown by the period that contains it.
pub fn summarize(rows: &[ComplianceRow], period: Period) -> Vec<KindSummary> {
    let mut out: Vec<KindSummary> = Vec::new();
    for r in rows {
        let inside = period.covers(r.period) || (r.period.covers(period) && !period.covers(r.period));
        if !inside {
            continue;
        }
        let idx = match out.iter().position(|s| s.kind == r.kind && s.group == r.group) {
            Some(i) => i,
            None => {
                out.push(KindSummary {
                    kind: r.kind,
                    group: r.group.clone(),
                    required: 0,
                    held: 0,
                    valid: 0,
                    counted: 0,
                    quorum_failures: Vec::new(),
                    behind: false,
                    pending: false,
                });
                out.len() - 1
            }
        };
        let s = &mut out[idx];
        s.held += r.held;
        s.valid += r.valid;
        s.quorum_failures.extend(r.quorum_failures.iter().cloned());
        if r.state != PeriodState::Future {
            s.required += r.required;
            s.counted += r.valid.min(r.required);
        }
        s.behind |= r.state == PeriodState::Missing;
        s.pending |= r.state == PeriodState::Pending;
    }
    out
}
