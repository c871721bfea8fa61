use zhibu_schema::{
    Attendance, Collection, KindSummary, Meeting, MeetingKind, Period, PointDelta, RuleSource, mapping,
};

use crate::testutil::*;
use crate::{ClientError, NewPoints};

fn meeting(kind: MeetingKind, day: &str, absent: &[&str]) -> Meeting {
    let mut m = Meeting::new(kind, d(day), text("会议"));
    for i in 1..=12 {
        let id = format!("v1-m{i:02}");
        let a = if absent.contains(&id.as_str()) { Attendance::absent() } else { Attendance::present() };
        m.attendance.insert(mid(&id), a);
    }
    m
}

#[test]
fn meetings_are_listed_by_period() {
    let t = cadre_phone();
    t.phone.record_meeting(&meeting(MeetingKind::ThemeDay, "2026-03-05", &[])).unwrap();
    let april = t.phone.record_meeting(&meeting(MeetingKind::ThemeDay, "2026-04-05", &[])).unwrap();
    t.phone.record_meeting(&meeting(MeetingKind::PartyLesson, "2026-03-20", &[])).unwrap();
    assert_eq!(t.phone.meetings(year(), Period::Month(3)).unwrap().len(), 2);
    let q2 = t.phone.meetings(year(), Period::Quarter(2)).unwrap();
    assert_eq!(q2.iter().map(|(id, _)| id).collect::<Vec<_>>(), vec![&april]);
    assert_eq!(t.phone.meetings(year(), Period::Year).unwrap().len(), 3);
}

#[test]
fn a_score_lists_every_entry_with_its_source() {
    let t = cadre_phone();
    let m = t.phone.record_meeting(&meeting(MeetingKind::BranchAssembly, "2026-03-10", &["v1-m04"])).unwrap();
    t.phone.record_makeup(&m, &mid("v1-m04"), d("2026-03-15")).unwrap();
    let p = t
        .phone
        .award_points(&NewPoints {
            member_id: mid("v1-m04"),
            rule: code("volunteer"),
            delta: PointDelta::new(5).unwrap(),
            on: d("2026-04-01"),
            note: None,
        })
        .unwrap();
    let score = t.phone.score(year(), &mid("v1-m04")).unwrap();
    assert_eq!(score.total, 100 - 2 + 1 + 5);
    let sources: Vec<_> = score.entries.iter().map(|e| (e.rule.as_str(), e.source, e.record.clone())).collect();
    assert_eq!(
        sources,
        vec![
            ("attend_absent", RuleSource::Attendance, m.clone()),
            ("attend_makeup", RuleSource::Attendance, m),
            ("volunteer", RuleSource::Manual, p)
        ]
    );
    assert_eq!(t.phone.scores(year()).unwrap().len(), 12);
    let err = t.phone.score(year(), &mid("v1-m99")).unwrap_err();
    assert!(matches!(err, ClientError::NoSuchRecord { .. }), "{err:?}");
}

#[test]
fn compliance_counts_meetings_per_kind_and_period() {
    let t = cadre_phone();
    t.phone.record_meeting(&meeting(MeetingKind::BranchAssembly, "2026-02-10", &[])).unwrap();
    // Most absent: no quorum, does not count.
    let absent: Vec<String> = (2..=12).map(|i| format!("v1-m{i:02}")).collect();
    let absent: Vec<&str> = absent.iter().map(String::as_str).collect();
    let failed = t.phone.record_meeting(&meeting(MeetingKind::BranchAssembly, "2026-04-10", &absent)).unwrap();
    let summary = t.phone.compliance(year(), Period::Year, d("2026-12-31")).unwrap();
    let assembly: &KindSummary = summary.iter().find(|s| s.kind == MeetingKind::BranchAssembly).unwrap();
    assert_eq!((assembly.required, assembly.held, assembly.valid), (4, 2, 1));
    assert_eq!(assembly.quorum_failures, vec![failed]);
    assert!(assembly.behind);
    let q1 = t.phone.compliance(year(), Period::Quarter(1), d("2026-12-31")).unwrap();
    assert!(!q1.iter().find(|s| s.kind == MeetingKind::BranchAssembly).unwrap().behind);
}

#[test]
fn records_are_found_by_a_short_id_and_members_by_name() {
    let t = cadre_phone();
    let id = t.phone.record_meeting(&meeting(MeetingKind::ThemeDay, "2026-03-05", &[])).unwrap();
    let short = &id.as_str()[id.as_str().len() - 8..];
    assert_eq!(t.phone.find_record(Collection::Meetings, short).unwrap(), id);
    assert_eq!(t.phone.find_record(Collection::Meetings, id.as_str()).unwrap(), id);
    assert!(matches!(t.phone.find_record(Collection::Points, short), Err(ClientError::NoSuchRecord { .. })));
    let name = t.phone.records(year()).unwrap().members[&mid("v1-m03")].name.to_string();
    assert_eq!(t.phone.find_member(year(), &name).unwrap(), mid("v1-m03"));
    assert_eq!(t.phone.find_member(year(), "v1-m07").unwrap(), mid("v1-m07"));
}

#[test]
fn conflicts_show_both_values_and_who_wrote_them() {
    use automerge::transaction::CommitOptions;
    use automerge::{ActorId, ReadDoc};
    let t = cadre_phone();
    let (mut mine, key) = {
        let inner = t.phone.lock();
        (inner.docs[&key()].replica.doc.clone(), key())
    };
    let mut other = mine.fork().with_actor(ActorId::from(b"other-phone".as_slice()));
    let put = |doc: &mut automerge::Automerge, group: &str, by: &str, entry: &str| {
        doc.transact_with::<_, _, mapping::WriteError, _>(
            |_| CommitOptions::default().with_message("调整党小组").with_time(1_773_000_000),
            |tx| {
                mapping::put_at(tx, &["members", "v1-m05", "group"], group)?;
                mapping::put_at(tx, &["points", entry], &serde_json::json!({"by": by}))
            },
        )
        .unwrap();
    };
    put(&mut mine, "第三党小组", "cadre1", "0190b5d2-0000-7000-8000-000000000001");
    put(&mut other, "第四党小组", "cadre2", "0190b5d2-0000-7000-8000-000000000002");
    // Both phones set one member's committee seat the same way: nothing for the cadre to decide.
    for doc in [&mut mine, &mut other] {
        doc.transact::<_, _, mapping::WriteError>(|tx| mapping::put_at(tx, &["members", "v1-m06", "committee"], &true))
            .unwrap();
    }
    mine.merge(&mut other).unwrap();
    let conflicts = super::conflicts::conflicts_of(&key, &mine);
    let group = conflicts.iter().find(|c| c.field == "group").expect("the group conflict");
    assert_eq!((group.collection, group.record.as_str()), (Collection::Members, "v1-m05"));
    let mut values: Vec<_> =
        group.values.iter().map(|v| (v.value.as_str().unwrap().to_owned(), v.this_device, v.account.clone())).collect();
    values.sort();
    assert_eq!(
        values,
        vec![("第三党小组".into(), true, Some("cadre1".into())), ("第四党小组".into(), false, Some("cadre2".into()))]
    );
    assert_eq!(group.values.iter().filter(|v| v.shown).count(), 1);
    assert_eq!(group.values[0].message.as_deref(), Some("调整党小组"));
    assert!(mine.get_all(automerge::ROOT, "members").unwrap().len() == 1);
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    assert_eq!(super::conflicts::count(&mine), 1);

    // A conflict inside a record voided since is nothing left to decide: it can no longer be
    // edited, and it no longer counts.
    let entry = "0190b5d2-0000-7000-8000-000000000001";
    let mut third = mine.fork().with_actor(ActorId::from(b"third-phone".as_slice()));
    for (doc, note) in [(&mut mine, "甲"), (&mut third, "乙")] {
        doc.transact::<_, _, mapping::WriteError>(|tx| mapping::put_at(tx, &["points", entry, "note"], note)).unwrap();
    }
    mine.merge(&mut third).unwrap();
    assert_eq!(super::conflicts::count(&mine), 2);
    let void = serde_json::json!({"reason": "录错", "by": "cadre1"});
    mine.transact::<_, _, mapping::WriteError>(|tx| mapping::put_at(tx, &["points", entry, "voided"], &void)).unwrap();
    assert_eq!(super::conflicts::count(&mine), 1, "the voided entry's conflict is left out");
}
