//! Two replicas of a village-year document take random valid edits concurrently, then merge in
//! either order: both orders must read the same records, byte for byte, and give the same
//! scores and compliance.

use automerge::{ActorId, Automerge};
use proptest::prelude::*;
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::*;

#[derive(Debug, Clone)]
enum Edit {
    RecordMeeting { kind: usize, day: u8, absent_every: usize },
    SetAttendance { meeting: usize, member: usize, status: usize, makeup: bool },
    Award { member: usize, rule: usize, pick: i32, day: u8 },
    VoidPoint { entry: usize },
    OpenCase { item: usize, day: u8 },
    CompleteStep { case: usize, step: usize, day: u8 },
    PostNotice { case: usize, from: u8, days: u8 },
    ChangeGroup { member: usize, group: usize },
    VoidMeeting { meeting: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0..6usize, 1..=200u8, 2..6usize).prop_map(|(kind, day, absent_every)| Edit::RecordMeeting {
            kind,
            day,
            absent_every
        }),
        (0..8usize, 0..12usize, 0..3usize, any::<bool>())
            .prop_map(|(meeting, member, status, makeup)| Edit::SetAttendance { meeting, member, status, makeup }),
        (0..12usize, 0..6usize, 0..20i32, 1..=200u8).prop_map(|(member, rule, pick, day)| Edit::Award {
            member,
            rule,
            pick,
            day
        }),
        (0..8usize).prop_map(|entry| Edit::VoidPoint { entry }),
        (0..10usize, 1..=200u8).prop_map(|(item, day)| Edit::OpenCase { item, day }),
        (0..6usize, 0..9usize, 0..30u8).prop_map(|(case, step, day)| Edit::CompleteStep { case, step, day }),
        (0..6usize, 0..30u8, 1..12u8).prop_map(|(case, from, days)| Edit::PostNotice { case, from, days }),
        (0..12usize, 0..3usize).prop_map(|(member, group)| Edit::ChangeGroup { member, group }),
        (0..8usize).prop_map(|meeting| Edit::VoidMeeting { meeting }),
    ]
}

fn year() -> Year {
    Year::new(2026).expect("year")
}

fn day(n: u8) -> Date {
    year().first_day().add_days(i64::from(n)).expect("in year")
}

fn text<const N: usize, const L: bool>(s: &str) -> Text<N, L> {
    Text::parse(s).expect("text")
}

fn nth<K: Clone, V>(map: &std::collections::BTreeMap<K, V>, i: usize) -> Option<K> {
    (!map.is_empty()).then(|| map.keys().nth(i % map.len()).cloned()).flatten()
}

/// Applies one edit as a phone would: read, change the record, write it back, one change.
fn apply(am: &mut Automerge, edit: &Edit, next_id: &mut u128, catalog: &Catalog) {
    let doc = mapping::read(am).expect("reads").doc;
    let members: Vec<MemberId> = doc.members.keys().cloned().collect();
    let by = AccountId::parse("cadre").expect("id");
    let mut fresh = || {
        *next_id += 1;
        RecordId::from_u128(*next_id)
    };
    let result = am.transact::<_, _, WriteError>(|tx| {
        match edit {
            Edit::RecordMeeting { kind, day: d, absent_every } => {
                let kind = MeetingKind::ALL[*kind];
                let mut m = Meeting::new(kind, day(*d), text("随机会议"));
                if kind == MeetingKind::GroupMeeting {
                    m.group = Some(text("第一党小组"));
                }
                for (i, id) in members.iter().enumerate() {
                    let a = if i % absent_every == 0 { Attendance::absent() } else { Attendance::present() };
                    m.attendance.insert(id.clone(), a);
                }
                mapping::put_record_id(tx, Collection::Meetings, &fresh(), &m)?;
            }
            Edit::SetAttendance { meeting, member, status, makeup } => {
                let Some(id) = nth(&doc.meetings, *meeting) else { return Ok(()) };
                let held = doc.meetings[&id].held_on;
                let a = match status {
                    0 => Attendance::present(),
                    1 => Attendance::leave(text("外出"), Some(text("书记"))),
                    _ => Attendance { makeup_on: makeup.then(|| held.add_days(3).expect("d")), ..Attendance::absent() },
                };
                let member = &members[member % members.len()];
                mapping::put_at(tx, &["meetings", id.as_str(), "attendance", member.as_str()], &a)?;
            }
            Edit::Award { member, rule, pick, day: d } => {
                let manual: Vec<_> = catalog.point_rules.iter().filter(|r| r.source == RuleSource::Manual).collect();
                let r = manual[rule % manual.len()];
                let delta = r.min + pick % (r.max - r.min + 1);
                let Ok(delta) = PointDelta::new(i64::from(delta)) else { return Ok(()) };
                let p = PointEntry {
                    member_id: members[member % members.len()].clone(),
                    rule: r.code.clone(),
                    delta,
                    on: day(*d),
                    note: None,
                    by: by.clone(),
                    voided: None,
                };
                mapping::put_record_id(tx, Collection::Points, &fresh(), &p)?;
            }
            Edit::VoidPoint { entry } => {
                let Some(id) = nth(&doc.points, *entry) else { return Ok(()) };
                let v = Voided { reason: text("录入有误"), by: by.clone() };
                mapping::put_at(tx, &["points", id.as_str(), "voided"], &v)?;
            }
            Edit::OpenCase { item, day: d } => {
                let item = &catalog.items[item % catalog.items.len()];
                let c = Case::new(item.code.clone(), text("随机事项"), day(*d));
                mapping::put_record_id(tx, Collection::Cases, &fresh(), &c)?;
            }
            Edit::CompleteStep { case, step, day: d } => {
                let Some(id) = nth(&doc.cases, *case) else { return Ok(()) };
                let c = &doc.cases[&id];
                let item = catalog.item(c.item.as_str()).expect("known item");
                let def = &item.steps[step % item.steps.len()];
                let s = Step::new(c.opened_on.add_days(i64::from(*d)).expect("d"), by.clone(), None);
                mapping::put_at(tx, &["cases", id.as_str(), "steps", def.code.as_str()], &s)?;
            }
            Edit::PostNotice { case, from, days } => {
                let Some(id) = nth(&doc.cases, *case) else { return Ok(()) };
                let start = doc.cases[&id].opened_on.add_days(i64::from(*from)).expect("d");
                let n = Notice { from: start, to: start.add_days(i64::from(*days)).expect("d"), place: None };
                mapping::put_at(tx, &["cases", id.as_str(), "notice"], &n)?;
            }
            Edit::ChangeGroup { member, group } => {
                let g = ["第一党小组", "第二党小组", "第三党小组"][*group];
                let member = &members[member % members.len()];
                mapping::put_at(tx, &["members", member.as_str(), "group"], g)?;
            }
            Edit::VoidMeeting { meeting } => {
                let Some(id) = nth(&doc.meetings, *meeting) else { return Ok(()) };
                let v = Voided { reason: text("重复录入"), by: by.clone() };
                mapping::put_at(tx, &["meetings", id.as_str(), "voided"], &v)?;
            }
        }
        Ok(())
    });
    result.expect("edit applies");
}

fn base() -> Automerge {
    let village = VillageId::parse("v1").expect("id");
    let mut doc = sample::roster(&village, year(), 12, 2);
    for (n, kind) in [(1u128, MeetingKind::BranchAssembly), (2, MeetingKind::ThemeDay)] {
        let mut m = Meeting::new(kind, day(40 + n as u8), text("共同的会议"));
        for id in doc.members.keys() {
            m.attendance.insert(id.clone(), Attendance::present());
        }
        doc.meetings.insert(RecordId::from_u128(n), m.into());
    }
    let mut am = mapping::genesis(&village, year());
    am.set_actor(ActorId::from(b"server".as_slice()));
    am.transact::<_, _, WriteError>(|tx| mapping::put_document(tx, &doc)).expect("seed");
    am
}

fn figures(am: &Automerge, catalog: &Catalog) -> (String, Vec<MemberScore>, Vec<ComplianceRow>) {
    let doc = mapping::read(am).expect("reads").doc;
    let json = serde_json::to_string(&doc).expect("json");
    let as_of = Date::parse("2026-12-31").expect("d");
    (json, all_scores(&doc, catalog), compliance(&doc, catalog, as_of))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_edits_merge_the_same_in_either_order(
        edits_a in prop::collection::vec(edit(), 1..12),
        edits_b in prop::collection::vec(edit(), 1..12),
    ) {
        let catalog = Catalog::default();
        let origin = base();
        let mut a = origin.fork().with_actor(ActorId::from(b"phone-a".as_slice()));
        let mut b = origin.fork().with_actor(ActorId::from(b"phone-b".as_slice()));
        let (mut ids_a, mut ids_b) = (1_000u128, 2_000u128);
        for e in &edits_a {
            apply(&mut a, e, &mut ids_a, &catalog);
        }
        for e in &edits_b {
            apply(&mut b, e, &mut ids_b, &catalog);
        }
        let mut ab = a.fork();
        ab.merge(&mut b.fork()).expect("merge");
        let mut ba = b.fork();
        ba.merge(&mut a.fork()).expect("merge");
        prop_assert_eq!(ab.get_heads(), ba.get_heads());
        let (json_ab, scores_ab, compliance_ab) = figures(&ab, &catalog);
        let (json_ba, scores_ba, compliance_ba) = figures(&ba, &catalog);
        prop_assert_eq!(json_ab, json_ba);
        prop_assert_eq!(scores_ab, scores_ba);
        prop_assert_eq!(compliance_ab, compliance_ba);
        // Nothing either phone recorded is lost.
        let merged = mapping::read(&ab).expect("reads").doc;
        for side in [&a, &b] {
            let one = mapping::read(side).expect("reads").doc;
            for id in one.meetings.keys() { prop_assert!(merged.meetings.contains_key(id)); }
            for id in one.points.keys() { prop_assert!(merged.points.contains_key(id)); }
            for id in one.cases.keys() { prop_assert!(merged.cases.contains_key(id)); }
        }
    }
}
