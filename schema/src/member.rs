//! The roster: party members of one village branch.

use serde::{Deserialize, Serialize};

use crate::{Date, Name, Year};

/// 正式党员 may vote and is graded; 预备党员 attends, does not vote, and gets no grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Full,
    Probationary,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 2] = [MemberStatus::Full, MemberStatus::Probationary];

    pub fn code(self) -> &'static str {
        match self {
            MemberStatus::Full => "full",
            MemberStatus::Probationary => "probationary",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            MemberStatus::Full => "正式党员",
            MemberStatus::Probationary => "预备党员",
        }
    }
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// One member on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: Name,
    #[serde(default)]
    pub group: Option<Name>,
    pub status: MemberStatus,
    #[serde(default)]
    pub committee: bool,
    #[serde(default)]
    pub joined_on: Option<Date>,
    #[serde(default)]
    pub left_on: Option<Date>,
    /// The day a probationary member became full (转正), when known: before it they count as
    /// probationary (a quorum of full members is counted as the roster stood at the meeting).
    #[serde(default)]
    pub full_on: Option<Date>,
    /// The day the member came to this branch from another (组织关系转入), when that was during
    /// the year: not due at meetings before it. An API extension (docs/API-EXTENSIONS.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_on: Option<Date>,
}

impl Member {
    pub fn new(name: Name, status: MemberStatus) -> Self {
        Member {
            name,
            group: None,
            status,
            committee: false,
            joined_on: None,
            left_on: None,
            full_on: None,
            arrived_on: None,
        }
    }

    /// The member's status on that day: probationary before the day they became full.
    pub fn status_on(&self, day: Date) -> MemberStatus {
        match (self.status, self.full_on) {
            (MemberStatus::Full, Some(full)) if day < full => MemberStatus::Probationary,
            (status, _) => status,
        }
    }

    /// On the roster on that day: joined (or join date unknown) and not yet left.
    pub fn active_on(&self, day: Date) -> bool {
        self.joined_on.is_none_or(|j| j <= day)
            && self.arrived_on.is_none_or(|a| a <= day)
            && self.left_on.is_none_or(|l| l > day)
    }

    /// Graded (评定等次) for `year`: a full member still in the branch at the year's end. A
    /// member who left during the year (转出, 去世) is graded by no one here, and a probationary
    /// member is not graded; both have a score.
    pub fn graded_in(&self, year: Year) -> bool {
        self.status == MemberStatus::Full && self.left_by(year).is_none()
    }

    /// The day the member left the branch, when it falls by the end of `year` (within it, or
    /// before it for a member still on its roster): why they are not graded for it.
    pub fn left_by(&self, year: Year) -> Option<Date> {
        self.left_on.filter(|l| *l <= year.last_day())
    }

    /// On the roster on some day from `first` to `last`.
    pub fn active_during(&self, first: Date, last: Date) -> bool {
        self.joined_on.is_none_or(|j| j <= last)
            && self.arrived_on.is_none_or(|a| a <= last)
            && self.left_on.is_none_or(|l| l > first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).expect(s)
    }

    #[test]
    fn a_member_is_active_between_joining_and_leaving() {
        let mut m = Member::new(Name::parse("王芳").expect("name"), MemberStatus::Full);
        assert!(m.active_on(d("2026-01-01")));
        m.joined_on = Some(d("2026-03-01"));
        m.left_on = Some(d("2026-09-01"));
        assert!(!m.active_on(d("2026-02-28")));
        assert!(m.active_on(d("2026-03-01")));
        assert!(!m.active_on(d("2026-09-01")));
    }

    #[test]
    fn a_member_who_became_full_was_probationary_before() {
        let mut m = Member::new(Name::parse("王芳").expect("name"), MemberStatus::Full);
        assert_eq!(m.status_on(d("2026-01-01")), MemberStatus::Full, "no date: full all along");
        m.full_on = Some(d("2026-09-01"));
        assert_eq!(m.status_on(d("2026-08-31")), MemberStatus::Probationary);
        assert_eq!(m.status_on(d("2026-09-01")), MemberStatus::Full);
        m.status = MemberStatus::Probationary;
        assert_eq!(m.status_on(d("2026-12-01")), MemberStatus::Probationary, "the status now rules after it");
    }

    #[test]
    fn a_member_who_left_during_the_year_is_not_graded_for_it() {
        let y = Year::new(2026).expect("year");
        let mut m = Member::new(Name::parse("王芳").expect("name"), MemberStatus::Full);
        assert!(m.graded_in(y));
        m.left_on = Some(d("2027-01-01"));
        assert!(m.graded_in(y), "on the roster all year: graded");
        m.left_on = Some(d("2026-12-31"));
        assert!(!m.graded_in(y), "gone on the year's last day");
        m.left_on = Some(d("2026-03-01"));
        assert!(!m.graded_in(y));
        m.left_on = None;
        m.status = MemberStatus::Probationary;
        assert!(!m.graded_in(y));
    }
}
