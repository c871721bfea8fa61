//! Point edits: award or deduct by a catalog rule with a note; void an entry with a reason.

use zhibu_schema::mapping::{put_at, put_record_id};
use zhibu_schema::{Collection, PointEntry, Prose, RecordId, Rule, Violation, Voided};

use super::{NewPoints, key_for};
use crate::Phone;
use crate::error::{ClientError, EditRefusal};

impl Phone {
    /// Awards (positive delta) or deducts (negative delta) points by a catalog rule, in the
    /// document of the year `points.on` falls in. Refused when the rule is unknown, derived from
    /// attendance, or the delta is outside its range. Returns the entry's id.
    pub fn award_points(&self, points: &NewPoints) -> Result<RecordId, ClientError> {
        let key = key_for(self, points.on, Collection::Points, "on")?;
        let id = RecordId::new_v7();
        // Points for a day the member was not in the branch belong to the branch they were in.
        let records = self.with(|inner| inner.records(&key))?;
        if let Some(why) = records.members.get(&points.member_id).and_then(|m| super::off_roster(m, points.on)) {
            let message = format!("{why}，{} 不在本支部名册上，不能给他记积分", points.on);
            let violation = Violation::new(Collection::Points, id.as_str(), "on", Rule::BadValue, message);
            return Err(ClientError::Refused(EditRefusal { violations: vec![violation] }));
        }
        let rule =
            self.catalog().rule(points.rule.as_str()).map_or_else(|| points.rule.to_string(), |r| r.name.to_string());
        let verb = if points.delta.get() > 0 { "奖励积分" } else { "扣除积分" };
        let message = format!("{verb}：{} {rule} {:+}", self.member_label(&key, &points.member_id), points.delta.get());
        self.commit(&key, message, |tx, by| {
            let entry = PointEntry {
                member_id: points.member_id.clone(),
                rule: points.rule.clone(),
                delta: points.delta,
                on: points.on,
                note: points.note.clone(),
                by: by.clone(),
                voided: None,
            };
            put_record_id(tx, Collection::Points, &id, &entry)
        })?;
        Ok(id)
    }

    /// Voids a point entry: it stays in the record with the reason and no longer counts.
    pub fn void_points(&self, entry: &RecordId, reason: &Prose) -> Result<(), ClientError> {
        let key = self.locate_live(Collection::Points, entry)?;
        self.commit(&key, format!("作废积分记录：{reason}"), |tx, by| {
            put_at(tx, &["points", entry.as_str(), "voided"], &Voided { reason: reason.clone(), by: by.clone() })
        })
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{Code, PointDelta};

    use super::*;
    use crate::testutil::*;

    fn points(rule: &str, delta: i64) -> NewPoints {
        NewPoints {
            member_id: mid("v1-m01"),
            rule: Code::parse(rule).unwrap(),
            delta: PointDelta::new(delta).unwrap(),
            on: d("2026-04-02"),
            note: Some(text("参加防汛值守")),
        }
    }

    #[test]
    fn points_are_awarded_and_deducted_by_rule() {
        let t = cadre_phone();
        let a = t.phone.award_points(&points("volunteer", 3)).unwrap();
        assert!(history(&t.phone).1.unwrap().starts_with("奖励积分："));
        let b = t.phone.award_points(&points("dues_late", -2)).unwrap();
        assert!(history(&t.phone).1.unwrap().starts_with("扣除积分："));
        let records = t.phone.records(year()).unwrap();
        assert_eq!(records.points[&a].by.as_str(), "cadre1");
        assert_eq!(records.points[&a].note.as_ref().map(|n| n.as_str()), Some("参加防汛值守"));
        assert_eq!(records.points[&b].delta.get(), -2);
        assert_eq!(t.phone.score(year(), &mid("v1-m01")).unwrap().total, 101);
    }

    #[test]
    fn points_for_a_day_the_member_was_not_in_the_branch_are_refused() {
        let t = cadre_phone();
        t.phone.change_member(year(), &mid("v1-m01"), &crate::MemberChange::Left(d("2026-03-31"))).unwrap();
        assert_refused(
            &t,
            "已于 2026-03-31 离开支部，2026-04-02 不在本支部名册上，不能给他记积分",
            |p| p.award_points(&points("volunteer", 3)),
        );
        let before = NewPoints { on: d("2026-03-30"), ..points("volunteer", 3) };
        t.phone.award_points(&before).expect("while still in the branch");
    }

    #[test]
    fn points_outside_the_rules_range_are_refused() {
        let t = cadre_phone();
        assert_refused(&t, "「志愿服务、义务劳动」的分值应在 1 到 5 之间，这里是 8", |p| {
            p.award_points(&points("volunteer", 8))
        });
        assert_refused(&t, "积分规则「login_bonus」不在本乡镇的积分目录中", |p| {
            p.award_points(&points("login_bonus", 1))
        });
        assert_refused(&t, "由会议考勤自动计算，不能手工录入", |p| {
            p.award_points(&points("attend_absent", -2))
        });
        let stranger = NewPoints { member_id: mid("v1-m99"), ..points("volunteer", 1) };
        assert_refused(&t, "党员「v1-m99」不在本村党员名册上", |p| p.award_points(&stranger));
    }

    #[test]
    fn a_voided_entry_no_longer_counts() {
        let t = cadre_phone();
        let id = t.phone.award_points(&points("volunteer", 3)).unwrap();
        t.phone.void_points(&id, &text("录错了人")).unwrap();
        assert_eq!(t.phone.score(year(), &mid("v1-m01")).unwrap().total, 100);
        assert_refused(&t, "已作废", |p| p.void_points(&id, &text("again")));
    }
}
