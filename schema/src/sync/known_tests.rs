//! Admission that reads only the records new changes touched must decide exactly as admission
//! that reads the whole document: the same records, the same problems, the same refusals.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjType, PatchLog, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::mapping::{self, Touched, WriteError};
use crate::testutil::*;
use crate::{Attendance, Catalog, Collection, PointDelta, PointEntry, Step, VillageId};

/// One edit a phone (or a hostile peer) might make.
#[derive(Debug, Clone)]
enum Edit {
    Points {
        id: u128,
        member: usize,
        delta: i64,
    },
    Attendance {
        meeting: u128,
        member: usize,
        status: u8,
    },
    VoidPoints {
        id: u128,
    },
    Step {
        code: &'static str,
        day: u8,
    },
    Member {
        member: usize,
        group: bool,
    },
    /// A record replaced by a bare value: unreadable.
    Garbage {
        collection: u8,
        id: u128,
    },
    /// A field set to a value of the wrong kind.
    BadDate {
        id: u128,
    },
    Delete {
        collection: u8,
        id: u128,
    },
    /// A meeting written as JavaScript clients write strings: as Automerge text.
    TextMeeting {
        id: u128,
        topic: &'static str,
    },
    /// Text typed into the topic of a meeting written as text.
    TextTyping {
        id: u128,
        at: usize,
        typed: &'static str,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let id = 1u128..8;
    prop_oneof![
        (id.clone(), 0usize..14, -3i64..7).prop_map(|(id, member, delta)| Edit::Points { id, member, delta }),
        (1u128..3, 0usize..14, 0u8..3).prop_map(|(meeting, member, status)| Edit::Attendance {
            meeting,
            member,
            status
        }),
        id.clone().prop_map(|id| Edit::VoidPoints { id }),
        (prop_oneof![Just("application"), Just("approval"), Just("bidding")], 1u8..28)
            .prop_map(|(code, day)| Edit::Step { code, day }),
        (0usize..14, any::<bool>()).prop_map(|(member, group)| Edit::Member { member, group }),
        (0u8..4, id.clone()).prop_map(|(collection, id)| Edit::Garbage { collection, id }),
        id.clone().prop_map(|id| Edit::BadDate { id }),
        (0u8..4, id.clone()).prop_map(|(collection, id)| Edit::Delete { collection, id }),
        (id.clone(), prop_oneof![Just("学习"), Just(" "), Just("支部大会")])
            .prop_map(|(id, topic)| Edit::TextMeeting { id, topic }),
        (id, 0usize..4, prop_oneof![Just("补"), Just("")]).prop_map(|(id, at, typed)| Edit::TextTyping {
            id,
            at,
            typed
        }),
    ]
}

fn collection(n: u8) -> Collection {
    [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases][usize::from(n % 4)]
}

fn key(c: Collection, id: u128) -> String {
    if c == Collection::Members { format!("v1-m{id:02}") } else { rid(id).to_string() }
}

fn member(n: usize) -> String {
    format!("v1-m{:02}", n + 1)
}

fn apply(doc: &mut Automerge, e: &Edit) {
    doc.transact::<_, _, WriteError>(|tx| {
        match e {
            Edit::Points { id, member: m, delta } => {
                let p = PointEntry {
                    member_id: mid(&member(*m)),
                    rule: code("volunteer"),
                    delta: PointDelta::new(*delta).unwrap_or(PointDelta::new(1).expect("delta")),
                    on: d("2026-05-01"),
                    note: None,
                    by: account("cadre1"),
                    voided: None,
                };
                mapping::put_record_id(tx, Collection::Points, &rid(*id), &p)?;
            }
            Edit::Attendance { meeting, member: m, status } => {
                let a = match status {
                    0 => Attendance::present(),
                    1 => Attendance::absent(),
                    _ => Attendance { reason: None, ..Attendance::leave(prose("事假"), None) },
                };
                let path = ["meetings", &rid(*meeting).to_string(), "attendance", &member(*m)].map(str::to_owned);
                mapping::put_at(tx, &path.each_ref().map(String::as_str), &a)?;
            }
            Edit::VoidPoints { id } => {
                let path = ["points".to_owned(), rid(*id).to_string(), "voided".to_owned(), "reason".to_owned()];
                mapping::put_at(tx, &path.each_ref().map(String::as_str), "作废")?;
            }
            Edit::Step { code: c, day } => {
                let s = Step::new(d(&format!("2026-02-{day:02}")), account("cadre1"), None);
                let path = ["cases".to_owned(), rid(4).to_string(), "steps".to_owned(), (*c).to_owned()];
                mapping::put_at(tx, &path.each_ref().map(String::as_str), &s)?;
            }
            Edit::Member { member: m, group } => {
                let g = if *group { "第一党小组" } else { "第九党小组" };
                mapping::put_at(tx, &["members", &member(*m), "group"], g)?;
                mapping::put_at(tx, &["members", &member(*m), "name"], "新党员")?;
                mapping::put_at(tx, &["members", &member(*m), "status"], "full")?;
            }
            Edit::Garbage { collection: c, id } => {
                let c = collection(*c);
                let obj = tx.get(ROOT, c.key())?.expect("collection").1;
                tx.put(&obj, key(c, *id), 7)?;
            }
            Edit::BadDate { id } => {
                mapping::put_at(tx, &["meetings", &rid(*id).to_string(), "held_on"], "2026-13-40")?;
            }
            Edit::Delete { collection: c, id } => {
                let c = collection(*c);
                let obj = tx.get(ROOT, c.key())?.expect("collection").1;
                tx.delete(&obj, key(c, *id))?;
            }
            Edit::TextMeeting { id, topic } => {
                let meetings = tx.get(ROOT, "meetings")?.expect("collection").1;
                let m = tx.put_object(&meetings, rid(*id).to_string(), ObjType::Map)?;
                for (k, v) in [("kind", "theme_day"), ("held_on", "2026-04-01")] {
                    let t = tx.put_object(&m, k, ObjType::Text)?;
                    tx.splice_text(&t, 0, 0, v)?;
                }
                let t = tx.put_object(&m, "topic", ObjType::Text)?;
                tx.splice_text(&t, 0, 0, topic)?;
                tx.put_object(&m, "attendance", ObjType::Map)?;
            }
            Edit::TextTyping { id, at, typed } => {
                let meetings = tx.get(ROOT, "meetings")?.expect("collection").1;
                if let Some((automerge::Value::Object(ObjType::Map), m)) = tx.get(&meetings, rid(*id).to_string())?
                    && let Some((automerge::Value::Object(ObjType::Text), t)) = tx.get(&m, "topic")?
                {
                    let len = tx.length(&t);
                    tx.splice_text(&t, (*at).min(len), 0, typed)?;
                }
            }
        }
        Ok(())
    })
    .expect("edit applies");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Two phones edit concurrently; the server, knowing its document as read, admits one
    /// phone's changes reading only what they touched: it decides as a whole read does.
    #[test]
    fn reading_only_the_touched_records_decides_as_reading_everything(
        before in proptest::collection::vec(edit(), 0..6),
        server_edits in proptest::collection::vec(edit(), 0..4),
        phone_edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let mut base = automerge_of(&village());
        for e in &before { apply(&mut base, e); }
        let mut phone = base.fork().with_actor(ActorId::from(b"phone".as_slice()));
        for e in &server_edits { apply(&mut base, e); }
        for e in &phone_edits { apply(&mut phone, e); }
        let changes = phone.get_changes(&[]);

        let v1 = VillageId::parse("v1").expect("id");
        let catalog = Catalog::default();
        let owner = |_: &ActorId| Owner::Caller;
        let gate = Gate { village: &v1, year: year(), catalog: &catalog, account: "cadre1", owner: &owner };

        let mut whole = base.fork();
        whole.apply_changes(changes.clone()).expect("applies");
        let mut next = base.fork();
        let mut log = PatchLog::active();
        next.apply_changes_log_patches(changes, &mut log).expect("applies");
        let patches = next.make_patches(&mut log);

        let base_read = std::sync::Arc::new(mapping::read(&base).expect("reads"));
        let expected = admit(&base, whole, &gate);
        let got = admit_known(&base, Some(&base_read), next, patches, &gate);
        match (expected, got) {
            (Ok(e), Ok(g)) => {
                prop_assert_eq!(sorted(&e.read), sorted(&g.read));
                prop_assert_eq!(sorted(&g.read), sorted(&mapping::read(&g.doc).expect("reads")));
            }
            (Err(Refusal::Invalid(e)), Err(Refusal::Invalid(g))) => {
                let e: BTreeSet<_> = e.into_iter().collect();
                let g: BTreeSet<_> = g.into_iter().collect();
                prop_assert_eq!(e, g);
            }
            (e, g) => prop_assert!(false, "whole read: {:?}\ntouched only: {:?}", e.map(|_| ()), g.map(|_| ())),
        }
    }
}

fn year() -> crate::Year {
    crate::Year::new(2026).expect("year")
}

#[test]
fn a_new_point_entry_touches_that_entry_only() {
    let base = automerge_of(&village());
    let mut phone = base.fork();
    apply(&mut phone, &Edit::Points { id: 9, member: 0, delta: 2 });
    let mut next = base.fork();
    let mut log = PatchLog::active();
    next.apply_changes_log_patches(phone.get_changes(&base.get_heads()), &mut log).expect("applies");
    let touched = mapping::touched_by(&next.make_patches(&mut log));
    assert_eq!(touched, Touched::Records([(Collection::Points, rid(9).to_string())].into()));
}

#[test]
fn the_records_a_push_did_not_touch_are_shared_with_the_base_not_copied() {
    let base = automerge_of(&village());
    let mut phone = base.fork().with_actor(ActorId::from(b"phone".as_slice()));
    apply(&mut phone, &Edit::Attendance { meeting: 1, member: 0, status: 1 });
    let mut next = base.fork();
    let mut log = PatchLog::active();
    next.apply_changes_log_patches(phone.get_changes(&base.get_heads()), &mut log).expect("applies");
    let patches = next.make_patches(&mut log);
    let v1 = VillageId::parse("v1").expect("id");
    let catalog = Catalog::default();
    let owner = |_: &ActorId| Owner::Caller;
    let gate = Gate { village: &v1, year: year(), catalog: &catalog, account: "cadre1", owner: &owner };
    let before = std::sync::Arc::new(mapping::read(&base).expect("reads"));
    let after = admit_known(&base, Some(&before), next, patches, &gate).expect("admitted").read;

    let (b, a) = (&before.doc, &after.doc);
    assert!(b.meetings.len() > 1 && !b.points.is_empty() && !b.cases.is_empty(), "the sample has all three");
    for (id, m) in &a.meetings {
        assert_eq!(std::sync::Arc::ptr_eq(m, &b.meetings[id]), *id != rid(1), "meeting {id}");
    }
    assert!(a.points.iter().all(|(id, p)| std::sync::Arc::ptr_eq(p, &b.points[id])), "point entries shared");
    assert!(a.cases.iter().all(|(id, c)| std::sync::Arc::ptr_eq(c, &b.cases[id])), "cases shared");
    assert_ne!(a.meetings[&rid(1)], b.meetings[&rid(1)], "the touched meeting was read again");
}
