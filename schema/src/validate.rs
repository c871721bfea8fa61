//! Validation of a whole village-year document against a catalog: the rules the server applies
//! before it stores a phone's changes, and the phone before it records an edit. It returns every
//! violation, not just the first, so a cadre can fix them all at once.

use automerge::ReadDoc;

use crate::mapping::{self, Hydrated, ReadError, Touched};
use crate::{
    AttendanceStatus, Catalog, Collection, Date, MeetingKind, MemberStatus, Rule, RuleSource, VillageId, VillageYear,
    Violation, Year,
};

/// The most members a village-year's roster may hold: a branch has 20 to 80 (DOMAIN.md), and one
/// over 50 usually splits into a 总支; this leaves room for any real branch and keeps every
/// push's figures (each member's score, each group's monthly meetings) bounded.
pub const MAX_MEMBERS: usize = 1_000;

/// The most party groups a village-year's roster may name.
pub const MAX_GROUPS: usize = 100;

/// Every rule a document breaks, in the order of its collections and records.
pub fn validate(doc: &VillageYear, catalog: &Catalog) -> Vec<Violation> {
    let mut out = Vec::new();
    if doc.members.len() > MAX_MEMBERS {
        out.push(Violation::new(
            Collection::Document,
            "",
            "members",
            Rule::TooMany,
            format!("名册有 {} 名党员，超过上限 {MAX_MEMBERS} 名", doc.members.len()),
        ));
    }
    let groups = doc.groups();
    if groups.len() > MAX_GROUPS {
        out.push(Violation::new(
            Collection::Document,
            "",
            "members",
            Rule::TooMany,
            format!("名册有 {} 个党小组，超过上限 {MAX_GROUPS} 个", groups.len()),
        ));
    }
    let year = doc.year;
    let outside_year = |d: Date| !year.contains(d);
    let year_msg = |d: Date| format!("日期 {d} 不在本文档的年度 {year} 年内");

    for (id, m) in &doc.members {
        let mut v = |field: &str, rule, msg: String| {
            out.push(Violation::new(Collection::Members, id.as_str(), field, rule, msg));
        };
        for (field, day, what) in [("left_on", m.left_on, "离开日期"), ("full_on", m.full_on, "转正日期")] {
            if let (Some(j), Some(d)) = (m.joined_on, day)
                && d < j
            {
                v(field, Rule::DateOrder, format!("{what} {d} 早于入党日期 {j}"));
            }
        }
        if let Some(j) = m.joined_on.filter(|j| *j > year.last_day()) {
            v(
                "joined_on",
                Rule::DateOutsideYear,
                format!("入党日期 {j} 晚于本文档的年度 {year} 年：这一年里他还不是党员，不应在本年名册上"),
            );
        }
        if let Some(a) = m.arrived_on {
            if outside_year(a) {
                v("arrived_on", Rule::DateOutsideYear, format!("转入日期 {a} 不在本文档的年度 {year} 年内"));
            }
            if let Some(l) = m.left_on.filter(|l| *l < a) {
                v("left_on", Rule::DateOrder, format!("离开日期 {l} 早于转入日期 {a}"));
            }
        }
        match (m.status, m.full_on) {
            (MemberStatus::Probationary, Some(f)) => {
                v("full_on", Rule::BadValue, format!("预备党员不应有转正日期（{f}）；已转正的身份应为正式党员"))
            }
            (MemberStatus::Full, Some(f)) if f > year.last_day() => v(
                "full_on",
                Rule::DateOutsideYear,
                format!("转正日期 {f} 晚于本文档的年度 {year} 年：这一年里他还不是正式党员"),
            ),
            _ => {}
        }
    }

    for (id, meeting) in &doc.meetings {
        let mut v = |field: String, rule, msg: String| {
            out.push(Violation::new(Collection::Meetings, id.as_str(), field, rule, msg));
        };
        if outside_year(meeting.held_on) {
            v("held_on".into(), Rule::DateOutsideYear, year_msg(meeting.held_on));
        }
        if meeting.kind == MeetingKind::GroupMeeting && meeting.group.is_none() {
            v("group".into(), Rule::GroupMissing, "党小组会须写明是哪个党小组".to_owned());
        }
        for (member, a) in &meeting.attendance {
            let field = |f: &str| format!("attendance.{member}.{f}");
            if !doc.members.contains_key(member) {
                v(format!("attendance.{member}"), Rule::UnknownMember, format!("党员「{member}」不在本村党员名册上"));
            }
            if a.status == AttendanceStatus::Leave && a.reason.is_none() {
                v(field("reason"), Rule::LeaveWithoutReason, "请假须写明请假事由".to_owned());
            }
            if let Some(makeup) = a.makeup_on {
                if a.status == AttendanceStatus::Present {
                    v(field("makeup_on"), Rule::MakeupWhilePresent, "已出席的党员不需要补课".to_owned());
                } else if makeup < meeting.held_on {
                    v(
                        field("makeup_on"),
                        Rule::DateOrder,
                        format!("补课日期 {makeup} 早于会议日期 {}", meeting.held_on),
                    );
                }
            }
        }
    }

    for (id, p) in &doc.points {
        let mut v = |field: &str, rule, msg: String| {
            out.push(Violation::new(Collection::Points, id.as_str(), field, rule, msg));
        };
        if !doc.members.contains_key(&p.member_id) {
            v("member_id", Rule::UnknownMember, format!("党员「{}」不在本村党员名册上", p.member_id));
        }
        match catalog.rule(p.rule.as_str()) {
            None => v("rule", Rule::UnknownRule, format!("积分规则「{}」不在本乡镇的积分目录中", p.rule)),
            Some(r) if r.source == RuleSource::Attendance => {
                v("rule", Rule::UnknownRule, format!("「{}」由会议考勤自动计算，不能手工录入", r.name))
            }
            // A voided entry counts nowhere: a value the catalog no longer allows (a range
            // narrowed since it was entered offline) is corrected by voiding it.
            Some(r) if p.voided.is_none() && !(r.min..=r.max).contains(&p.delta.get()) => {
                let range = if r.min == r.max {
                    format!("为 {}", r.min)
                } else {
                    format!("在 {} 到 {} 之间", r.min, r.max)
                };
                v("delta", Rule::DeltaOutOfRange, format!("「{}」的分值应{range}，这里是 {}", r.name, p.delta.get()));
            }
            Some(_) => {}
        }
        if outside_year(p.on) {
            v("on", Rule::DateOutsideYear, year_msg(p.on));
        }
    }

    for (id, case) in &doc.cases {
        let mut v = |field: String, rule, msg: String| {
            out.push(Violation::new(Collection::Cases, id.as_str(), field, rule, msg));
        };
        if outside_year(case.opened_on) {
            v("opened_on".into(), Rule::DateOutsideYear, year_msg(case.opened_on));
        }
        let item = catalog.item(case.item.as_str());
        if item.is_none() {
            v("item".into(), Rule::UnknownItem, format!("事项「{}」不在本乡镇的小微权力清单中", case.item));
        }
        for (code, step) in &case.steps {
            if let Some(item) = item
                && item.step(code).is_none()
            {
                v(format!("steps.{code}"), Rule::UnknownStep, format!("步骤「{code}」不属于事项「{}」", item.name));
            }
            if step.done_on < case.opened_on {
                v(
                    format!("steps.{code}.done_on"),
                    Rule::DateOrder,
                    format!("步骤完成日期 {} 早于立项日期 {}", step.done_on, case.opened_on),
                );
            }
            if let Some(until) = step.until
                && until < step.done_on
            {
                v(
                    format!("steps.{code}.until"),
                    Rule::DateOrder,
                    format!("公示结束日期 {until} 早于开始日期 {}", step.done_on),
                );
            }
        }
        if let Some(n) = &case.notice
            && n.to < n.from
        {
            v("notice.to".into(), Rule::DateOrder, format!("公示结束日期 {} 早于开始日期 {}", n.to, n.from));
        }
        if let Some(closed) = case.closed_on
            && closed < case.opened_on
        {
            v("closed_on".into(), Rule::DateOrder, format!("办结日期 {closed} 早于立项日期 {}", case.opened_on));
        }
    }
    out
}

/// Reads an Automerge document and checks everything: that it is the expected village and
/// year, that every record can be read, and every rule of [`validate`]. On success, the records.
pub fn check_document(
    doc: &impl ReadDoc,
    village: &VillageId,
    year: Year,
    catalog: &Catalog,
) -> Result<VillageYear, Vec<Violation>> {
    let hydrated = mapping::read(doc).map_err(|e| vec![unreadable(&e)])?;
    let problems = check_read(&hydrated, village, year, catalog);
    if problems.is_empty() { Ok(hydrated.doc) } else { Err(problems) }
}

/// The violation of a document that cannot be read at all.
pub fn unreadable(e: &ReadError) -> Violation {
    match e {
        ReadError::Header(v) => v.clone(),
        ReadError::Automerge(e) => {
            Violation::new(Collection::Document, "", "", Rule::Header, format!("无法读取文档：{e}"))
        }
    }
}

/// What [`check_document`] finds in a document already read: the records that could not be
/// read, the address, and every rule of [`validate`].
pub fn check_read(hydrated: &Hydrated, village: &VillageId, year: Year, catalog: &Catalog) -> Vec<Violation> {
    let mut problems = read_problems(hydrated, village, year);
    problems.extend(validate(&hydrated.doc, catalog));
    problems
}

/// What [`check_read`] finds before the rules of the records: the records that could not be
/// read, and the address.
pub fn read_problems(hydrated: &Hydrated, village: &VillageId, year: Year) -> Vec<Violation> {
    let mut problems = hydrated.problems.clone();
    let doc = &hydrated.doc;
    if &doc.village_id != village {
        problems.insert(
            0,
            Violation::new(
                Collection::Document,
                "",
                "village_id",
                Rule::Header,
                format!("文档属于村「{}」，不是「{village}」", doc.village_id),
            ),
        );
    }
    if doc.year != year {
        problems.insert(
            0,
            Violation::new(
                Collection::Document,
                "",
                "year",
                Rule::Header,
                format!("文档年度是 {}，不是 {year}", doc.year),
            ),
        );
    }
    problems
}

/// What changes broke of the rule that records are voided with a reason, never deleted
/// (DOMAIN.md, "Late entries and honesty of records"), and that a voided record stays voided:
/// the records `before` held that `after` (the records as read once the changes are applied)
/// no longer holds, or holds no longer voided, among those `touched` names. A member leaves the
/// roster by a leaving date, never by deletion. A record `after` cannot read is a problem of
/// its own already, and is not counted twice.
pub fn erased(before: &VillageYear, after: &Hydrated, touched: &Touched) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut check = |which: Collection, key: &str| {
        let Some(was_voided) = before.voided(which, key) else { return };
        let (rule, field, message) = match after.doc.voided(which, key) {
            Some(true) => return,
            Some(false) if !was_voided => return,
            Some(false) => (Rule::Unvoided, "voided", format!("已作废的{}不能恢复", which.label())),
            None if after.problems.iter().any(|p| p.collection == which && p.record == key) => return,
            None if which == Collection::Members => {
                (Rule::Deleted, "", "党员不能从名册中删除；党员离开请填写离开日期".to_owned())
            }
            None => (Rule::Deleted, "", format!("{}不能删除，只能作废并注明原因", which.label())),
        };
        out.push(Violation::new(which, key, field, rule, message));
    };
    match touched {
        Touched::Records(records) => records.iter().for_each(|(which, key)| check(*which, key)),
        Touched::All => {
            let members = before.members.keys().map(|k| (Collection::Members, k.as_str()));
            let meetings = before.meetings.keys().map(|k| (Collection::Meetings, k.as_str()));
            let points = before.points.keys().map(|k| (Collection::Points, k.as_str()));
            let cases = before.cases.keys().map(|k| (Collection::Cases, k.as_str()));
            members.chain(meetings).chain(points).chain(cases).for_each(|(which, key)| check(which, key));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testutil::*;
    use crate::{Attendance, Meeting, Notice, PointDelta, PointEntry, Step};

    fn one(doc: &VillageYear) -> Violation {
        let mut v = validate(doc, &Catalog::default());
        assert_eq!(v.len(), 1, "{v:#?}");
        v.remove(0)
    }

    #[test]
    fn a_roster_larger_than_any_branch_is_refused() {
        let mut doc = village();
        let members = doc.members.len();
        let groups =
            doc.members.values().filter_map(|m| m.group.clone()).collect::<std::collections::BTreeSet<_>>().len();
        let sample = doc.members.values().next().expect("a member").clone();
        for n in 0..=MAX_MEMBERS {
            let mut m = sample.clone();
            m.group = Some(crate::Name::parse(&format!("组{}", n % (MAX_GROUPS + 1))).expect("name"));
            doc.members.insert(mid(&format!("x-{n}")), m);
        }
        let v = validate(&doc, &Catalog::default());
        let too_many: Vec<_> = v.iter().filter(|v| v.rule == Rule::TooMany).map(|v| v.message.as_str()).collect();
        assert_eq!(
            too_many,
            [
                format!("名册有 {} 名党员，超过上限 1000 名", MAX_MEMBERS + 1 + members),
                format!("名册有 {} 个党小组，超过上限 100 个", MAX_GROUPS + 1 + groups)
            ]
        );
        assert!(validate(&village(), &Catalog::default()).is_empty(), "a real branch is far from it");
    }

    fn point(member: &str, rule: &str, delta: i64) -> PointEntry {
        PointEntry {
            member_id: mid(member),
            rule: code(rule),
            delta: PointDelta::new(delta).expect("delta"),
            on: d("2026-05-01"),
            note: None,
            by: account("cadre1"),
            voided: None,
        }
    }

    #[test]
    fn the_sample_village_is_valid() {
        assert_eq!(validate(&village(), &Catalog::default()), vec![]);
    }

    #[test]
    fn attendance_only_for_members_on_the_roster() {
        let mut doc = village();
        Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"))
            .attendance
            .insert(mid("stranger"), Attendance::present());
        let v = one(&doc);
        assert_eq!(
            (v.collection, v.field.as_str(), v.rule),
            (Collection::Meetings, "attendance.stranger", Rule::UnknownMember)
        );
        assert_eq!(v.message, "党员「stranger」不在本村党员名册上");
        assert_eq!(v.record, rid(1).to_string());
    }

    #[test]
    fn points_only_for_members_on_the_roster() {
        let mut doc = village();
        doc.points.insert(rid(9), point("stranger", "volunteer", 2).into());
        assert_eq!(one(&doc).rule, Rule::UnknownMember);
    }

    #[test]
    fn point_rules_come_from_the_catalog() {
        let mut doc = village();
        doc.points.insert(rid(9), point("v1-m01", "login_bonus", 1).into());
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.rule), ("rule", Rule::UnknownRule));
        assert_eq!(v.message, "积分规则「login_bonus」不在本乡镇的积分目录中");
    }

    #[test]
    fn attendance_rules_cannot_be_entered_by_hand() {
        let mut doc = village();
        doc.points.insert(rid(9), point("v1-m01", "attend_absent", -2).into());
        assert_eq!(one(&doc).message, "「无故缺席三会一课/主题党日」由会议考勤自动计算，不能手工录入");
    }

    #[test]
    fn deltas_stay_within_the_rule_range() {
        let mut doc = village();
        doc.points.insert(rid(9), point("v1-m01", "volunteer", 8).into());
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.rule), ("delta", Rule::DeltaOutOfRange));
        assert_eq!(v.message, "「志愿服务、义务劳动」的分值应在 1 到 5 之间，这里是 8");
        doc.points.insert(rid(9), point("v1-m01", "dues_late", -3).into());
        assert_eq!(one(&doc).message, "「未按时足额交纳党费」的分值应为 -2，这里是 -3");
        // Voided, it counts nowhere: the way to correct an entry the catalog came to forbid.
        let mut voided = point("v1-m01", "volunteer", 8);
        voided.voided = Some(crate::Voided { reason: prose("分值超出新目录"), by: account("cadre1") });
        doc.points.insert(rid(9), voided.into());
        assert_eq!(validate(&doc, &Catalog::default()), []);
    }

    #[test]
    fn dates_stay_inside_the_document_year() {
        let mut doc = village();
        Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m")).held_on = d("2025-12-30");
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.rule), ("held_on", Rule::DateOutsideYear));
        assert_eq!(v.message, "日期 2025-12-30 不在本文档的年度 2026 年内");
        let mut doc = village();
        doc.points.insert(rid(9), PointEntry { on: d("2027-01-01"), ..point("v1-m01", "volunteer", 1) }.into());
        assert_eq!(one(&doc).rule, Rule::DateOutsideYear);
        let mut doc = village();
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c")).opened_on = d("2025-01-31");
        assert_eq!(one(&doc).field, "opened_on");
    }

    #[test]
    fn case_items_come_from_the_catalog() {
        let mut doc = village();
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c")).item = code("fishing_rights");
        let v = one(&doc);
        assert_eq!(
            (v.rule, v.message.as_str()),
            (Rule::UnknownItem, "事项「fishing_rights」不在本乡镇的小微权力清单中")
        );
    }

    #[test]
    fn case_steps_belong_to_their_item() {
        let mut doc = village();
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c"))
            .steps
            .insert(code("bidding"), Step::new(d("2026-02-07"), account("cadre1"), None));
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.rule), ("steps.bidding", Rule::UnknownStep));
        assert_eq!(v.message, "步骤「bidding」不属于事项「宅基地申请」");
    }

    #[test]
    fn dates_in_a_record_keep_their_order() {
        let mut doc = village();
        let c = Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c"));
        c.notice = Some(Notice { from: d("2026-02-10"), to: d("2026-02-08"), place: None });
        assert_eq!(one(&doc).message, "公示结束日期 2026-02-08 早于开始日期 2026-02-10");
        let mut doc = village();
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c")).closed_on = Some(d("2026-01-15"));
        assert_eq!(one(&doc).field, "closed_on");
        let mut doc = village();
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c")).steps.get_mut(&code("application")).expect("s").done_on =
            d("2026-01-20");
        assert_eq!(one(&doc).message, "步骤完成日期 2026-01-20 早于立项日期 2026-02-01");
        let mut doc = village();
        let m = doc.members.get_mut(&mid("v1-m01")).expect("m");
        m.left_on = Some(d("1970-01-01"));
        assert_eq!(one(&doc).rule, Rule::DateOrder);
    }

    #[test]
    fn the_day_a_member_became_full_fits_their_status_and_the_year() {
        let mut doc = village();
        doc.members.get_mut(&mid("v1-m01")).expect("m").full_on = Some(d("2026-09-01"));
        assert!(validate(&doc, &Catalog::default()).is_empty(), "a full member who became full in September");
        doc.members.get_mut(&mid("v1-m01")).expect("m").full_on = Some(d("2027-03-01"));
        assert_eq!((one(&doc).field.as_str(), one(&doc).rule), ("full_on", Rule::DateOutsideYear));
        doc.members.get_mut(&mid("v1-m08")).expect("m").full_on = Some(d("2026-09-01"));
        doc.members.get_mut(&mid("v1-m01")).expect("m").full_on = None;
        assert_eq!(one(&doc).message, "预备党员不应有转正日期（2026-09-01）；已转正的身份应为正式党员");
        let m = doc.members.get_mut(&mid("v1-m08")).expect("m");
        (m.status, m.joined_on, m.full_on) = (MemberStatus::Full, Some(d("2026-05-01")), Some(d("2026-04-01")));
        assert_eq!(one(&doc).message, "转正日期 2026-04-01 早于入党日期 2026-05-01");
    }

    #[test]
    fn a_member_joining_after_the_year_is_not_on_its_roster() {
        let mut doc = village();
        doc.members.get_mut(&mid("v1-m01")).expect("m").joined_on = Some(d("2026-12-31"));
        assert!(validate(&doc, &Catalog::default()).is_empty(), "joined on the year's last day");
        doc.members.get_mut(&mid("v1-m01")).expect("m").joined_on = Some(d("2027-01-01"));
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.rule), ("joined_on", Rule::DateOutsideYear));
        assert_eq!(v.message, "入党日期 2027-01-01 晚于本文档的年度 2026 年：这一年里他还不是党员，不应在本年名册上");
    }

    #[test]
    fn leave_needs_a_reason() {
        let mut doc = village();
        Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"))
            .attendance
            .get_mut(&mid("v1-m09"))
            .expect("a")
            .reason = None;
        let v = one(&doc);
        assert_eq!((v.field.as_str(), v.message.as_str()), ("attendance.v1-m09.reason", "请假须写明请假事由"));
    }

    #[test]
    fn make_up_is_for_those_who_missed_and_comes_after_the_meeting() {
        let mut doc = village();
        let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
        m.attendance.get_mut(&mid("v1-m01")).expect("a").makeup_on = Some(d("2026-03-20"));
        assert_eq!(one(&doc).message, "已出席的党员不需要补课");
        let mut doc = village();
        let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
        m.attendance.get_mut(&mid("v1-m10")).expect("a").makeup_on = Some(d("2026-03-01"));
        assert_eq!(one(&doc).message, "补课日期 2026-03-01 早于会议日期 2026-03-10");
    }

    #[test]
    fn group_meetings_name_their_group() {
        let mut doc = village();
        doc.meetings.insert(rid(9), Meeting::new(MeetingKind::GroupMeeting, d("2026-05-01"), line("小组会")).into());
        let v = one(&doc);
        assert_eq!((v.rule, v.message.as_str()), (Rule::GroupMissing, "党小组会须写明是哪个党小组"));
    }

    #[test]
    fn every_violation_is_returned_not_just_the_first() {
        let mut doc = village();
        doc.points.insert(rid(9), point("stranger", "login_bonus", 1).into());
        Arc::make_mut(doc.cases.get_mut(&rid(4)).expect("c")).item = code("fishing_rights");
        assert_eq!(validate(&doc, &Catalog::default()).len(), 3);
    }

    #[test]
    fn check_document_reads_validates_and_checks_the_address() {
        let doc = village();
        let am = automerge_of(&doc);
        let y = Year::new(2026).expect("y");
        let v1 = VillageId::parse("v1").expect("id");
        assert_eq!(check_document(&am, &v1, y, &Catalog::default()), Ok(doc));
        let other = VillageId::parse("v2").expect("id");
        let err = check_document(&am, &other, y, &Catalog::default()).expect_err("wrong village");
        assert_eq!(err[0].message, "文档属于村「v1」，不是「v2」");
        let err = check_document(&am, &v1, Year::new(2027).expect("y"), &Catalog::default()).expect_err("wrong year");
        assert_eq!(err[0].to_string(), "文档（年度）：文档年度是 2026，不是 2027");
    }

    #[test]
    fn voided_records_must_carry_a_reason() {
        let am = automerge_of(&village());
        let mut am = am;
        let m = rid(2).to_string();
        am.transact::<_, _, crate::mapping::WriteError>(|tx| {
            crate::mapping::put_at(tx, &["meetings", &m, "voided", "reason"], " ")
        })
        .expect("put");
        let err =
            check_document(&am, &VillageId::parse("v1").expect("id"), Year::new(2026).expect("y"), &Catalog::default())
                .expect_err("no reason");
        assert_eq!(err[0].to_string(), format!("会议 {}（作废原因）：不能为空", &m[28..]));
    }
}
