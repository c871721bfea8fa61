//! "三会一课" meetings, the theme day and the organisational life meeting, with per-member
//! attendance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Date, Line, MemberId, Name, Prose, Voided};

/// The kinds of meeting a branch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    BranchAssembly,
    BranchCommittee,
    GroupMeeting,
    PartyLesson,
    ThemeDay,
    OrgLifeMeeting,
}

impl MeetingKind {
    pub const ALL: [MeetingKind; 6] = [
        MeetingKind::BranchAssembly,
        MeetingKind::BranchCommittee,
        MeetingKind::GroupMeeting,
        MeetingKind::PartyLesson,
        MeetingKind::ThemeDay,
        MeetingKind::OrgLifeMeeting,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MeetingKind::BranchAssembly => "branch_assembly",
            MeetingKind::BranchCommittee => "branch_committee",
            MeetingKind::GroupMeeting => "group_meeting",
            MeetingKind::PartyLesson => "party_lesson",
            MeetingKind::ThemeDay => "theme_day",
            MeetingKind::OrgLifeMeeting => "org_life_meeting",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MeetingKind::BranchAssembly => "支部党员大会",
            MeetingKind::BranchCommittee => "支部委员会",
            MeetingKind::GroupMeeting => "党小组会",
            MeetingKind::PartyLesson => "党课",
            MeetingKind::ThemeDay => "主题党日",
            MeetingKind::OrgLifeMeeting => "组织生活会",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// Whether a member came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttendanceStatus {
    Present,
    /// 请假: excused, with a reason and who approved it.
    Leave,
    /// 缺席: no valid reason.
    Absent,
}

impl AttendanceStatus {
    pub const ALL: [AttendanceStatus; 3] =
        [AttendanceStatus::Present, AttendanceStatus::Leave, AttendanceStatus::Absent];

    pub fn code(self) -> &'static str {
        match self {
            AttendanceStatus::Present => "present",
            AttendanceStatus::Leave => "leave",
            AttendanceStatus::Absent => "absent",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AttendanceStatus::Present => "出席",
            AttendanceStatus::Leave => "请假",
            AttendanceStatus::Absent => "缺席",
        }
    }
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// One member's attendance at one meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub status: AttendanceStatus,
    #[serde(default)]
    pub reason: Option<Prose>,
    #[serde(default)]
    pub approved_by: Option<Name>,
    /// 补课: the day a member who missed the meeting made it up.
    #[serde(default)]
    pub makeup_on: Option<Date>,
}

impl Attendance {
    pub fn present() -> Self {
        Attendance { status: AttendanceStatus::Present, reason: None, approved_by: None, makeup_on: None }
    }
    pub fn absent() -> Self {
        Attendance { status: AttendanceStatus::Absent, ..Self::present() }
    }
    pub fn leave(reason: Prose, approved_by: Option<Name>) -> Self {
        Attendance { status: AttendanceStatus::Leave, reason: Some(reason), approved_by, makeup_on: None }
    }
}

/// A meeting record (会议记录).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    pub kind: MeetingKind,
    pub held_on: Date,
    pub topic: Line,
    #[serde(default)]
    pub place: Option<Name>,
    #[serde(default)]
    pub host: Option<Name>,
    #[serde(default)]
    pub recorder: Option<Name>,
    /// The party group, for a group meeting.
    #[serde(default)]
    pub group: Option<Name>,
    #[serde(default)]
    pub resolutions: Option<Prose>,
    #[serde(default)]
    pub attendance: BTreeMap<MemberId, Attendance>,
    #[serde(default)]
    pub voided: Option<Voided>,
}

impl Meeting {
    pub fn new(kind: MeetingKind, held_on: Date, topic: Line) -> Self {
        Meeting {
            kind,
            held_on,
            topic,
            place: None,
            host: None,
            recorder: None,
            group: None,
            resolutions: None,
            attendance: BTreeMap::new(),
            voided: None,
        }
    }

    pub fn is_void(&self) -> bool {
        self.voided.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_codes_round_trip_and_have_chinese_names() {
        for k in MeetingKind::ALL {
            assert_eq!(MeetingKind::from_code(k.code()), Some(k));
            assert_eq!(serde_json::to_string(&k).expect("json"), format!("\"{}\"", k.code()));
        }
        assert_eq!(MeetingKind::ThemeDay.label(), "主题党日");
        assert_eq!(MeetingKind::from_code("Theme_Day"), None);
    }

    #[test]
    fn attendance_codes_round_trip() {
        for s in AttendanceStatus::ALL {
            assert_eq!(AttendanceStatus::from_code(s.code()), Some(s));
        }
        assert_eq!(AttendanceStatus::Leave.label(), "请假");
    }
}
