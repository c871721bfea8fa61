//! Convergence without a network: N phones and a server core (the real `zhibu_schema::sync`),
//! random edits on each phone, and syncs that run at the same time with their requests
//! delivered in random order, dropped, delivered twice, replayed late, and phones restarted
//! from disk in between. Once the network is reliable again and every phone has synced twice,
//! every replica must hold the same changes and read as the same records, and nothing a phone
//! made may be missing or doubled on the server.

mod common;

use std::collections::BTreeSet;

use automerge::ActorId;
use common::*;
use proptest::prelude::*;
use zhibu_client::zhibu_schema::{
    Attendance, Catalog, Code, Date, Meeting, MeetingKind, Member, MemberId, MemberStatus, Name, PointDelta, RecordId,
    RuleSource, Text, mapping,
};
use zhibu_client::{MemberChange, NewCase, NewPoints, Phone};

#[derive(Debug, Clone)]
enum Edit {
    AddMember,
    RecordMeeting { kind: usize, day: u16, absent_every: usize },
    SetAttendance { meeting: usize, member: usize, status: usize },
    Award { member: usize, rule: usize, pick: i32, day: u16 },
    VoidMeeting { meeting: usize },
    VoidPoints { entry: usize },
    OpenCase { item: usize, day: u16 },
    CompleteStep { case: usize, step: usize, day: u16 },
    ChangeGroup { member: usize, group: usize },
}

#[derive(Debug, Clone)]
enum Op {
    Edit {
        phone: usize,
        edit: Edit,
    },
    /// The phones in the mask sync at once over a network with these fault percentages.
    Sync {
        phones: u8,
        drop_request: u8,
        drop_reply: u8,
        duplicate: u8,
        resync: bool,
    },
    Replay {
        n: usize,
    },
    Restart {
        phone: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::AddMember),
        (0..6usize, 0..365u16, 2..6usize).prop_map(|(kind, day, absent_every)| Edit::RecordMeeting {
            kind,
            day,
            absent_every
        }),
        (0..8usize, 0..20usize, 0..3usize).prop_map(|(meeting, member, status)| Edit::SetAttendance {
            meeting,
            member,
            status
        }),
        (0..20usize, 0..6usize, 0..20i32, 0..365u16).prop_map(|(member, rule, pick, day)| Edit::Award {
            member,
            rule,
            pick,
            day
        }),
        (0..8usize).prop_map(|meeting| Edit::VoidMeeting { meeting }),
        (0..8usize).prop_map(|entry| Edit::VoidPoints { entry }),
        (0..10usize, 0..300u16).prop_map(|(item, day)| Edit::OpenCase { item, day }),
        (0..6usize, 0..9usize, 0..30u16).prop_map(|(case, step, day)| Edit::CompleteStep { case, step, day }),
        (0..20usize, 0..3usize).prop_map(|(member, group)| Edit::ChangeGroup { member, group }),
    ]
}

fn op(phones: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..phones, edit()).prop_map(|(phone, edit)| Op::Edit { phone, edit }),
        3 => (1..(1u8 << phones), 0..40u8, 0..40u8, 0..40u8, any::<bool>()).prop_map(
            |(phones, drop_request, drop_reply, duplicate, resync)| Op::Sync { phones, drop_request, drop_reply, duplicate, resync }
        ),
        1 => any::<usize>().prop_map(|n| Op::Replay { n }),
        1 => (0..phones).prop_map(|phone| Op::Restart { phone }),
    ]
}

fn on(day: u16) -> Date {
    let first = year().first_day();
    first.add_days(i64::from(day)).filter(|d| year().contains(*d)).unwrap_or(first)
}

fn text<const N: usize, const L: bool>(s: &str) -> Text<N, L> {
    Text::parse(s).unwrap()
}

fn nth<K: Clone, V>(map: &std::collections::BTreeMap<K, V>, i: usize) -> Option<K> {
    (!map.is_empty()).then(|| map.keys().nth(i % map.len()).cloned()).flatten()
}

/// What the phones made, to check nothing went missing or was doubled.
#[derive(Default)]
struct Made {
    meetings: BTreeSet<RecordId>,
    points: BTreeSet<RecordId>,
    cases: BTreeSet<RecordId>,
    members: usize,
}

/// Applies an edit as the cadre would; refusals (an edit that breaks a rule) are fine.
fn apply(phone: &Phone, who: usize, edit: &Edit, made: &mut Made, catalog: &Catalog) {
    let records = phone.records(year()).unwrap();
    let members: Vec<MemberId> = records.members.keys().cloned().collect();
    let member = |i: usize| (!members.is_empty()).then(|| members[i % members.len()].clone());
    let _ = match edit {
        Edit::AddMember => {
            made.members += 1;
            let id = MemberId::parse(&format!("v1-p{who}-{}", made.members)).unwrap();
            phone.add_member(year(), &id, &Member::new(text("新党员"), MemberStatus::Probationary)).map(|_| ())
        }
        Edit::RecordMeeting { kind, day, absent_every } => {
            let kind = MeetingKind::ALL[*kind];
            let mut m = Meeting::new(kind, on(*day), text("随机会议"));
            if kind == MeetingKind::GroupMeeting {
                m.group = Some(text("第一党小组"));
            }
            for (i, id) in members.iter().enumerate() {
                let a = if i % absent_every == 0 { Attendance::absent() } else { Attendance::present() };
                m.attendance.insert(id.clone(), a);
            }
            phone.record_meeting(&m).map(|id| {
                made.meetings.insert(id);
            })
        }
        Edit::SetAttendance { meeting, member: m, status } => {
            let (Some(meeting), Some(m)) = (nth(&records.meetings, *meeting), member(*m)) else { return };
            // No make-up dates: two phones setting present and absent-with-make-up at once
            // would merge into "present with a make-up date", which the server rightly refuses.
            let a = match status {
                0 => Attendance::present(),
                1 => Attendance::absent(),
                _ => Attendance::leave(text("外出务工"), Some(Name::parse("书记").unwrap())),
            };
            phone.set_attendance(&meeting, &m, &a)
        }
        Edit::Award { member: m, rule, pick, day } => {
            let manual: Vec<_> = catalog.point_rules.iter().filter(|r| r.source == RuleSource::Manual).collect();
            let r = manual[rule % manual.len()];
            let span = (r.max - r.min + 1).max(1);
            let Some(m) = member(*m) else { return };
            let Ok(delta) = PointDelta::new(i64::from(r.min + pick % span)) else { return };
            let points = NewPoints { member_id: m, rule: r.code.clone(), delta, on: on(*day), note: None };
            phone.award_points(&points).map(|id| {
                made.points.insert(id);
            })
        }
        Edit::VoidMeeting { meeting } => {
            let Some(id) = nth(&records.meetings, *meeting) else { return };
            phone.void_meeting(&id, &text("录错了"))
        }
        Edit::VoidPoints { entry } => {
            let Some(id) = nth(&records.points, *entry) else { return };
            phone.void_points(&id, &text("录错了"))
        }
        Edit::OpenCase { item, day } => {
            let item = &catalog.items[item % catalog.items.len()];
            let case =
                NewCase { item: item.code.clone(), title: text("随机事项"), opened_on: on(*day), applicant: None };
            phone.open_case(&case).map(|id| {
                made.cases.insert(id);
            })
        }
        Edit::CompleteStep { case, step, day } => {
            let Some(id) = nth(&records.cases, *case) else { return };
            let c = &records.cases[&id];
            let Some(item) = catalog.item(c.item.as_str()) else { return };
            let step: &Code = &item.steps[step % item.steps.len()].code;
            let done = c.opened_on.add_days(i64::from(*day)).filter(|d| year().contains(*d)).unwrap_or(c.opened_on);
            phone.complete_step(&id, step, done, None)
        }
        Edit::ChangeGroup { member: m, group } => {
            let Some(m) = member(*m) else { return };
            let g = ["第一党小组", "第二党小组", "第三党小组"][*group];
            phone.change_member(year(), &m, &MemberChange::Group(Some(Name::parse(g).unwrap())))
        }
    };
}

/// Runs the scenario and checks convergence; returns the network's statistics and how many
/// meetings, points and cases the phones made.
fn run(n: usize, ops: &[Op], seed: u64) -> ([usize; 5], usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let net = Net::new(Server::new(year(), 6, seed), seed);
        let mut phones: Vec<Option<SimPhone>> =
            (0..n).map(|i| Some(SimPhone::new(&net, &format!("cadre{}", i + 1)))).collect();
        let catalog = Catalog::default();
        let mut made = Made::default();
        for op in ops {
            match op {
                Op::Edit { phone, edit } => {
                    apply(&phones[*phone].as_ref().unwrap().phone, *phone, edit, &mut made, &catalog)
                }
                Op::Sync { phones: mask, drop_request, drop_reply, duplicate, resync } => {
                    net.set_faults(Faults {
                        drop_request: f64::from(*drop_request) / 100.0,
                        drop_reply: f64::from(*drop_reply) / 100.0,
                        duplicate: f64::from(*duplicate) / 100.0,
                    });
                    net.server(|s| s.resync_rate = if *resync { 0.5 } else { 0.0 });
                    let chosen: Vec<&Phone> =
                        (0..n).filter(|i| mask & (1 << i) != 0).map(|i| &phones[i].as_ref().unwrap().phone).collect();
                    for result in sync_all(&net, &chosen, &quick()).await {
                        // A lossy network may wear out the retries: the edits wait for later.
                        if let Err(e) = result {
                            assert_eq!(e.kind(), zhibu_client::ErrorKind::Offline, "{e:?}");
                        }
                    }
                }
                Op::Replay { n } => net.replay(*n),
                Op::Restart { phone } => {
                    let p = phones[*phone].take().unwrap();
                    phones[*phone] = Some(p.restart());
                }
            }
        }

        net.set_faults(Faults::default());
        net.server(|s| s.resync_rate = 0.0);
        for _ in 0..2 {
            for p in phones.iter().flatten() {
                let report = sync(&net, &p.phone, &quick()).await.expect("a reliable network syncs");
                assert_eq!(report.refusals().count(), 0, "{report:?}");
            }
        }

        let server = net.server(|s| s.docs[&key()].clone());
        let server_records = mapping::read(&server).unwrap().doc;
        for (i, p) in phones.iter().flatten().enumerate() {
            let doc = p.phone.document(&key()).unwrap();
            assert_eq!(doc.get_heads(), server.get_heads(), "phone {i} heads");
            assert_eq!(mapping::read(&doc).unwrap().doc, server_records, "phone {i} records");
            assert_eq!(p.phone.pending_edits(), 0, "phone {i} outbox");
            // Every change this phone made is on the server, once.
            let actor = ActorId::from(hex_decode(p.phone.device().peer_id()));
            let mine = |d: &automerge::Automerge| d.get_changes(&[]).iter().filter(|c| *c.actor_id() == actor).count();
            assert_eq!(mine(&server), mine(&doc), "phone {i} changes");
        }
        assert_eq!(server_records.meetings.keys().cloned().collect::<BTreeSet<_>>(), made.meetings);
        assert_eq!(server_records.points.keys().cloned().collect::<BTreeSet<_>>(), made.points);
        assert_eq!(server_records.cases.keys().cloned().collect::<BTreeSet<_>>(), made.cases);
        let stats = net.stats(|s| [s.dropped_requests, s.dropped_replies, s.duplicated, s.replayed, s.standard]);
        (stats, made.meetings.len() + made.points.len() + made.cases.len())
    })
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_replica_ends_equal(
        (n, ops) in (2..=3usize).prop_flat_map(|n| (Just(n), prop::collection::vec(op(n), 1..40))),
        seed in any::<u64>(),
    ) {
        run(n, &ops, seed);
    }
}

#[test]
fn a_busy_day_on_a_bad_line_converges() {
    // A fixed, long scenario, so every run exercises drops, duplicates, replays and resyncs.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut ops = Vec::new();
    for round in 0..30 {
        for phone in 0..3 {
            let edit = match rng.usize(0..6) {
                0 => Edit::RecordMeeting { kind: rng.usize(0..6), day: rng.u16(0..365), absent_every: rng.usize(2..6) },
                1 => {
                    Edit::SetAttendance { meeting: rng.usize(0..8), member: rng.usize(0..20), status: rng.usize(0..3) }
                }
                2 => Edit::Award {
                    member: rng.usize(0..20),
                    rule: rng.usize(0..6),
                    pick: rng.i32(0..20),
                    day: rng.u16(0..365),
                },
                3 => Edit::ChangeGroup { member: rng.usize(0..6), group: rng.usize(0..3) },
                4 => Edit::OpenCase { item: rng.usize(0..10), day: rng.u16(0..300) },
                _ => Edit::CompleteStep { case: rng.usize(0..6), step: rng.usize(0..9), day: rng.u16(0..30) },
            };
            ops.push(Op::Edit { phone, edit });
        }
        ops.push(Op::Sync { phones: 0b111, drop_request: 30, drop_reply: 30, duplicate: 30, resync: round % 3 == 0 });
        ops.push(Op::Replay { n: rng.usize(..) });
        if round % 7 == 3 {
            ops.push(Op::Restart { phone: round % 3 });
        }
    }
    let (stats, made) = run(3, &ops, 7);
    eprintln!("dropped requests, dropped replies, duplicated, replayed, standard: {stats:?}; records made: {made}");
    assert!(stats.iter().all(|&n| n > 0), "every kind of fault happened: {stats:?}");
    assert!(made > 30, "the phones made records: {made}");
}
