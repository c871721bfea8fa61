//! The village-year document as typed records: what `mapping::read` produces and
//! `mapping::write` stores. Derived figures are never part of it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{AccountId, Case, Meeting, Member, MemberId, PointEntry, Prose, RecordId, VillageId, Year};

/// The only layout version this crate reads and writes.
pub const SCHEMA_VERSION: i64 = 1;

/// Why a record no longer counts. Records are voided, never deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voided {
    pub reason: Prose,
    pub by: AccountId,
}

/// One village's records for one calendar year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VillageYear {
    pub village_id: VillageId,
    pub year: Year,
    pub members: BTreeMap<MemberId, crate::Member>,
    // The records a year accumulates are shared behind `Arc`s: the server keeps a document's
    // records as read, and each push reads again only the records it touched into a copy, so
    // the copy shares every other record instead of cloning (and later freeing) each meeting's
    // attendance. Change one with `Arc::make_mut`.
    pub meetings: BTreeMap<RecordId, Arc<Meeting>>,
    pub points: BTreeMap<RecordId, Arc<PointEntry>>,
    pub cases: BTreeMap<RecordId, Arc<Case>>,
}

impl VillageYear {
    pub fn new(village_id: VillageId, year: Year) -> Self {
        VillageYear {
            village_id,
            year,
            members: BTreeMap::new(),
            meetings: BTreeMap::new(),
            points: BTreeMap::new(),
            cases: BTreeMap::new(),
        }
    }

    /// Whether the record `key` of `which` is held, and if so whether it is voided (members
    /// never are); None for a key that is no record's id, or the document's header.
    pub fn voided(&self, which: crate::Collection, key: &str) -> Option<bool> {
        use crate::Collection;
        match which {
            Collection::Members => MemberId::parse(key).ok().and_then(|id| self.members.get(&id)).map(|_| false),
            Collection::Meetings => {
                RecordId::parse(key).ok().and_then(|id| self.meetings.get(&id)).map(|m| m.voided.is_some())
            }
            Collection::Points => {
                RecordId::parse(key).ok().and_then(|id| self.points.get(&id)).map(|p| p.voided.is_some())
            }
            Collection::Cases => {
                RecordId::parse(key).ok().and_then(|id| self.cases.get(&id)).map(|c| c.voided.is_some())
            }
            Collection::Document => None,
        }
    }

    /// The party groups the roster names, each once, in order.
    pub fn groups(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.members.values().filter_map(|m| m.group.as_ref().map(|g| g.as_str())).collect();
        let mut groups: Vec<&str> = set.into_iter().collect();
        groups.sort_by_cached_key(|g| group_order(g));
        groups
    }

    /// Meetings that count (not voided).
    pub fn live_meetings(&self) -> impl Iterator<Item = (&RecordId, &Meeting)> {
        self.meetings.iter().filter(|(_, m)| m.voided.is_none()).map(|(id, m)| (id, &**m))
    }

    pub fn live_points(&self) -> impl Iterator<Item = (&RecordId, &PointEntry)> {
        self.points.iter().filter(|(_, p)| p.voided.is_none()).map(|(id, p)| (id, &**p))
    }

    pub fn live_cases(&self) -> impl Iterator<Item = (&RecordId, &Case)> {
        self.cases.iter().filter(|(_, c)| c.voided.is_none()).map(|(id, c)| (id, &**c))
    }

    pub fn member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id)
    }
}

/// The key party groups are listed by: their numbers as numbers, in Chinese numerals or digits
/// (第二党小组 before 第十党小组, 第三 after 第二), the rest as written.
pub fn group_order(name: &str) -> String {
    fn digit(c: char) -> Option<u32> {
        "零一二三四五六七八九".chars().position(|d| d == c).map(|p| p as u32).or_else(|| c.to_digit(10))
    }
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(&c) = chars.peek() {
        if digit(c).is_none() && !matches!(c, '十' | '百') {
            out.push(c);
            chars.next();
            continue;
        }
        // A run of numerals: 十二 is 12, 二十 is 20, 一百零五 is 105, 12 is 12.
        let (mut total, mut current) = (0u32, 0u32);
        while let Some(&c) = chars.peek() {
            match (digit(c), c) {
                (Some(d), _) if c.is_ascii_digit() => current = current.saturating_mul(10).saturating_add(d),
                (Some(d), _) => current = d,
                (None, '十') => {
                    total = total.saturating_add(current.max(1).saturating_mul(10));
                    current = 0;
                }
                (None, '百') => {
                    total = total.saturating_add(current.max(1).saturating_mul(100));
                    current = 0;
                }
                _ => break,
            }
            chars.next();
        }
        out.push_str(&format!("{:010}", total.saturating_add(current)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::group_order;

    #[test]
    fn party_groups_are_listed_by_their_numbers() {
        let mut groups =
            ["第三党小组", "第一党小组", "第十党小组", "第二党小组", "第十二党小组", "老年党小组", "2组", "10组"];
        groups.sort_by_key(|g| group_order(g));
        assert_eq!(
            groups,
            ["2组", "10组", "第一党小组", "第二党小组", "第三党小组", "第十党小组", "第十二党小组", "老年党小组"]
        );
        assert!(group_order("二十组") > group_order("十九组"));
        assert!(group_order("一百零五组") > group_order("九十九组"));
        assert!(!group_order("4294967295百99999999999十组").is_empty(), "numbers past u32 saturate");
    }
}
