//! Roster edits: add a member; change group, committee seat or status; record leaving.

use zhibu_schema::mapping::{put_at, put_record};
use zhibu_schema::{Collection, Date, Member, MemberId, MemberStatus, Year};

use super::{MemberChange, map_at};
use crate::error::ClientError;
use crate::{DocKey, Phone};

impl Phone {
    /// Adds a member to the roster of `year`. Refused if the id is already on it.
    pub fn add_member(&self, year: Year, id: &MemberId, member: &Member) -> Result<(), ClientError> {
        let key = DocKey::new(self.with(|inner| inner.village())?, year);
        let exists = self.with(|inner| {
            Ok(inner.docs.get(&key).is_some_and(|d| map_at(&d.replica.doc, &["members", id.as_str()]).is_some()))
        })?;
        if exists {
            return Err(ClientError::MemberExists(id.to_string()));
        }
        self.commit(&key, format!("添加党员：{}（{id}）", member.name), |tx, _| {
            put_record(tx, Collection::Members, id.as_str(), member)
        })
    }

    /// Changes one thing about a member on the roster of `year`, writing only that field.
    pub fn change_member(&self, year: Year, id: &MemberId, change: &MemberChange) -> Result<(), ClientError> {
        let key = DocKey::new(self.with(|inner| inner.village())?, year);
        let name = self
            .text(&key, &["members", id.as_str(), "name"])
            .ok_or_else(|| ClientError::NoSuchRecord { collection: Collection::Members, id: id.to_string() })?;
        let path = |field: &'static str| ["members", id.as_str(), field];
        let (message, field) = match change {
            MemberChange::Group(Some(g)) => (format!("调整党小组：{name} → {g}"), "group"),
            MemberChange::Group(None) => (format!("调整党小组：{name} 不再属于任何党小组"), "group"),
            MemberChange::Committee(true) => (format!("支委调整：{name} 进入支部委员会"), "committee"),
            MemberChange::Committee(false) => (format!("支委调整：{name} 退出支部委员会"), "committee"),
            MemberChange::Status(s) => (format!("调整党员身份：{name} → {}", s.label()), "status"),
            MemberChange::BecameFull(d) => (format!("党员转正：{name} 自 {d} 起为正式党员"), "full_on"),
            MemberChange::Left(d) => (format!("党员离开：{name} {d}"), "left_on"),
            MemberChange::Arrived(d) => (format!("党员转入：{name} {d}"), "arrived_on"),
        };
        self.commit(&key, message, |tx, _| match change {
            MemberChange::Group(g) => put_at(tx, &path(field), g),
            MemberChange::Committee(c) => put_at(tx, &path(field), c),
            // A status set without a day holds for the whole year: a day it became full
            // recorded before is no longer true.
            MemberChange::Status(s) => {
                put_at(tx, &path(field), s)?;
                put_at(tx, &path("full_on"), &None::<Date>)
            }
            MemberChange::BecameFull(d) => {
                put_at(tx, &path("status"), &MemberStatus::Full)?;
                put_at(tx, &path(field), d)
            }
            MemberChange::Left(d) | MemberChange::Arrived(d) => put_at(tx, &path(field), d),
        })
    }

    /// Starts the roster of `year` from the year before's as it stood on its last day, so that
    /// nobody types the branch in again each January: every member who had not left by then,
    /// with their id (their account and points stay theirs), name, party group, committee seat,
    /// day of joining and status (a member who became full during that year is full all of
    /// this one). Refused when this year's roster has members already (the township's import,
    /// or another phone's carry-over) or the phone has no roster of the year before. One
    /// change; returns how many members it carried.
    pub fn carry_over_roster(&self, year: Year) -> Result<usize, ClientError> {
        let key = DocKey::new(self.with(|inner| inner.village())?, year);
        let previous = Year::new(i64::from(year) - 1).map_err(|e| ClientError::RosterCarry(e.to_string()))?;
        let now = self.records(year)?;
        if !now.members.is_empty() {
            return Err(ClientError::RosterCarry(format!(
                "{year} 年的名册已有 {} 名党员，不再从 {previous} 年带入；个别党员请用 zhibu roster add 添加",
                now.members.len()
            )));
        }
        let last_day = previous.last_day();
        let before = self.records(previous)?;
        let carried: Vec<(MemberId, Member)> = before
            .members
            .iter()
            .filter(|(_, m)| m.left_on.is_none_or(|l| l > last_day))
            .map(|(id, m)| {
                let status = m.status_on(last_day);
                // Here all of the new year: a transfer in last year is no arrival this year.
                let member = Member { status, full_on: None, arrived_on: None, ..m.clone() };
                (id.clone(), member)
            })
            .collect();
        if carried.is_empty() {
            return Err(ClientError::RosterCarry(format!(
                "手机上没有 {previous} 年的名册可带入：请先运行 zhibu --year {previous} sync 取回上一年的记录，\
                 或请乡镇导入 {year} 年的名册"
            )));
        }
        let message = format!("从 {previous} 年带入党员名册（{} 人）", carried.len());
        self.commit(&key, message, |tx, _| {
            carried.iter().try_for_each(|(id, m)| put_record(tx, Collection::Members, id.as_str(), m))
        })?;
        Ok(carried.len())
    }

    /// Records that a member left the branch on `on` (same as [`MemberChange::Left`]).
    pub fn record_leaving(&self, year: Year, id: &MemberId, on: Date) -> Result<(), ClientError> {
        self.change_member(year, id, &MemberChange::Left(on))
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{MemberStatus, Name};

    use super::*;
    use crate::testutil::*;

    #[test]
    fn a_new_member_is_on_the_roster_after_one_change() {
        let t = cadre_phone();
        let (n, _) = history(&t.phone);
        let mut m = Member::new(Name::parse("赵新民").unwrap(), MemberStatus::Probationary);
        m.joined_on = Some(d("2026-03-01"));
        t.phone.add_member(year(), &mid("v1-m13"), &m).unwrap();
        assert_eq!(t.phone.records(year()).unwrap().members.get(&mid("v1-m13")), Some(&m));
        assert_eq!(history(&t.phone), (n + 1, Some("添加党员：赵新民（v1-m13）".to_owned())));
    }

    #[test]
    fn a_member_id_already_on_the_roster_is_refused() {
        let t = cadre_phone();
        let m = Member::new(Name::parse("赵新民").unwrap(), MemberStatus::Full);
        assert_refused(&t, "党员编号「v1-m01」已在名册上", |p| p.add_member(year(), &mid("v1-m01"), &m));
    }

    #[test]
    fn group_committee_and_status_change_one_field_each() {
        let t = cadre_phone();
        let id = mid("v1-m05");
        t.phone.change_member(year(), &id, &MemberChange::Group(Some(Name::parse("第三党小组").unwrap()))).unwrap();
        t.phone.change_member(year(), &id, &MemberChange::Committee(true)).unwrap();
        t.phone.change_member(year(), &id, &MemberChange::Status(MemberStatus::Probationary)).unwrap();
        let m = t.phone.records(year()).unwrap().members[&id].clone();
        assert_eq!(m.group.as_ref().map(Name::as_str), Some("第三党小组"));
        assert!(m.committee);
        assert_eq!(m.status, MemberStatus::Probationary);
        assert!(history(&t.phone).1.unwrap().starts_with("调整党员身份："));
        t.phone.change_member(year(), &id, &MemberChange::Group(None)).unwrap();
        assert_eq!(t.phone.records(year()).unwrap().members[&id].group, None, "no group: the field is deleted");
    }

    #[test]
    fn becoming_full_is_recorded_with_its_day_in_one_change() {
        let t = cadre_phone();
        let id = mid("v1-m05");
        t.phone.change_member(year(), &id, &MemberChange::Status(MemberStatus::Probationary)).unwrap();
        let (n, _) = history(&t.phone);
        t.phone.change_member(year(), &id, &MemberChange::BecameFull(d("2026-09-01"))).unwrap();
        let m = t.phone.records(year()).unwrap().members[&id].clone();
        assert_eq!((m.status, m.full_on), (MemberStatus::Full, Some(d("2026-09-01"))));
        assert_eq!(m.status_on(d("2026-03-10")), MemberStatus::Probationary);
        let (after, message) = history(&t.phone);
        assert_eq!((after, message.as_deref()), (n + 1, Some("党员转正：孙素芳 自 2026-09-01 起为正式党员")));
        assert_refused(&t, "早于入党日期", |p| {
            p.change_member(year(), &id, &MemberChange::BecameFull(d("1960-01-01")))
        });
        // Set again without a day (a correction), it holds for the whole year.
        t.phone.change_member(year(), &id, &MemberChange::Status(MemberStatus::Full)).unwrap();
        assert_eq!(t.phone.records(year()).unwrap().members[&id].full_on, None);
    }

    #[test]
    fn leaving_is_recorded_and_cannot_come_before_joining() {
        let t = cadre_phone();
        let id = mid("v1-m02");
        t.phone.record_leaving(year(), &id, d("2026-06-30")).unwrap();
        assert_eq!(t.phone.records(year()).unwrap().members[&id].left_on, Some(d("2026-06-30")));
        assert_refused(&t, "早于入党日期", |p| p.record_leaving(year(), &id, d("1960-01-01")));
    }

    #[test]
    fn next_year_starts_from_this_years_roster_as_it_stood_on_its_last_day() {
        let t = cadre_phone();
        let next = Year::new(i64::from(year()) + 1).unwrap();
        t.phone.record_leaving(year(), &mid("v1-m02"), d("2026-06-30")).unwrap();
        t.phone.record_leaving(year(), &mid("v1-m03"), d("2027-01-10")).unwrap();
        t.phone.change_member(year(), &mid("v1-m04"), &MemberChange::Status(MemberStatus::Probationary)).unwrap();
        t.phone.change_member(year(), &mid("v1-m04"), &MemberChange::BecameFull(d("2026-09-01"))).unwrap();
        t.phone.change_member(year(), &mid("v1-m05"), &MemberChange::Committee(true)).unwrap();
        let (n, _) = history(&t.phone);
        assert_eq!(t.phone.carry_over_roster(next).unwrap(), 11, "all but the one who left in 2026");
        let this = t.phone.records(year()).unwrap();
        let carried = t.phone.records(next).unwrap().members;
        assert!(!carried.contains_key(&mid("v1-m02")));
        assert_eq!(carried[&mid("v1-m03")].left_on, Some(d("2027-01-10")), "leaving next year stays");
        let m04 = &carried[&mid("v1-m04")];
        assert_eq!((m04.status, m04.full_on), (MemberStatus::Full, None), "full all of the new year");
        assert!(carried[&mid("v1-m05")].committee);
        assert_eq!(carried[&mid("v1-m06")], this.members[&mid("v1-m06")], "the rest as it was");
        let key = DocKey::new(zhibu_schema::VillageId::parse("v1").unwrap(), next);
        let message =
            t.phone.lock().docs[&key].replica.doc.get_last_local_change().and_then(|c| c.message().map(str::to_owned));
        assert_eq!(message.as_deref(), Some("从 2026 年带入党员名册（11 人）"));
        assert_eq!(history(&t.phone).0, n, "this year's document is not touched");
        // Not twice, and not into a roster the township imported.
        assert_refused(&t, "年的名册已有 11 名党员", |p| p.carry_over_roster(next).map(drop));
        // Nothing to carry from a year the phone does not have.
        let later = Year::new(i64::from(year()) + 3).unwrap();
        assert_refused(&t, "没有 2028 年的名册可带入", |p| p.carry_over_roster(later).map(drop));
    }

    #[test]
    fn changing_a_member_not_on_the_roster_is_refused() {
        let t = cadre_phone();
        assert_refused(&t, "找不到党员「v1-m99」", |p| {
            p.change_member(year(), &mid("v1-m99"), &MemberChange::Committee(true))
        });
    }
}
