//! Sync against the real sync core (`zhibu_schema::sync`) in-process, over a network that loses
//! and repeats messages: retries, resuming, refusals, rebuild, the background task.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::ReadDoc;
use common::*;
use zhibu_client::zhibu_schema::{
    Attendance, Code, Collection, Meeting, MeetingKind, MemberId, Name, PointDelta, Rule, Text, mapping,
};
use zhibu_client::{DocOutcome, ErrorKind, MemberChange, NewPoints, SyncEvent, WatchOptions};

fn text<const N: usize, const L: bool>(s: &str) -> Text<N, L> {
    Text::parse(s).unwrap()
}

fn mid(s: &str) -> MemberId {
    MemberId::parse(s).unwrap()
}

fn meeting(month: u8) -> Meeting {
    let mut m = Meeting::new(MeetingKind::ThemeDay, day(month, 5), text("主题党日"));
    for i in 1..=6 {
        m.attendance.insert(mid(&format!("v1-m{i:02}")), Attendance::present());
    }
    m
}

fn points(rule: &str, delta: i64) -> NewPoints {
    NewPoints {
        member_id: mid("v1-m01"),
        rule: Code::parse(rule).unwrap(),
        delta: PointDelta::new(delta).unwrap(),
        on: day(4, 1),
        note: None,
    }
}

/// A network with the server and one phone that has pulled the roster.
async fn setup() -> (Net, SimPhone) {
    let net = Net::new(Server::new(year(), 8, 1), 1);
    let p = SimPhone::new(&net, "cadre1");
    sync(&net, &p.phone, &quick()).await.expect("first sync");
    assert_eq!(p.phone.records(year()).unwrap().members.len(), 8, "the roster came down");
    (net, p)
}

fn server_changes(net: &Net) -> usize {
    net.server(|s| s.docs[&key()].get_changes(&[]).len())
}

#[tokio::test]
async fn edits_made_offline_reach_the_server_and_the_outbox_empties() {
    let (net, p) = setup().await;
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    let e = p.phone.award_points(&points("volunteer", 2)).unwrap();
    assert_eq!(p.phone.pending_edits(), 2);
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(report.docs.len(), 1);
    assert_eq!((report.docs[0].sent, report.docs[0].standard), (2, false));
    assert_eq!(p.phone.pending_edits(), 0);
    assert!(p.phone.last_sync().is_some());
    let records = net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc);
    assert!(records.meetings.contains_key(&m) && records.points.contains_key(&e));
    assert_eq!(p.heads(), net.server(|s| s.docs[&key()].get_heads()));
}

#[tokio::test]
async fn a_lost_reply_is_sent_again_and_nothing_is_stored_twice() {
    let (net, p) = setup().await;
    for month in 3..6 {
        p.phone.record_meeting(&meeting(month)).unwrap();
    }
    let before = server_changes(&net);
    // The server stores the changes, the reply is lost; then the request is dropped; then the
    // retry gets through.
    net.script(&[Fault::DropReply, Fault::DropRequest, Fault::Duplicate]);
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert!(matches!(report.docs[0].outcome, DocOutcome::Synced));
    assert_eq!(server_changes(&net), before + 3, "each edit stored once");
    assert_eq!(p.phone.pending_edits(), 0);
    assert_eq!(net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.meetings.len()), 3);
    assert_eq!(p.heads(), net.server(|s| s.docs[&key()].get_heads()));
}

#[tokio::test]
async fn out_of_reach_the_edits_stay_and_the_error_says_offline() {
    let (net, p) = setup().await;
    p.phone.record_meeting(&meeting(3)).unwrap();
    net.set_down(true);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let err = p.phone.sync(&p.port, &quick(), &mut |e| seen.lock().unwrap().push(e)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Offline, "{err:?}");
    assert!(err.to_string().contains("修改已保存在手机上"), "{err}");
    let retries = events.lock().unwrap().iter().filter(|e| matches!(e, SyncEvent::Retrying { .. })).count();
    assert_eq!(retries, 3);
    assert_eq!(p.phone.pending_edits(), 1);
    net.set_down(false);
    sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(p.phone.pending_edits(), 0);
}

#[tokio::test]
async fn the_standard_protocol_resumes_after_a_broken_session() {
    let (net, p) = setup().await;
    net.server(|s| s.resync_rate = 1.0);
    for month in 3..7 {
        p.phone.record_meeting(&meeting(month)).unwrap();
    }
    // The fast path asks for a resync; the standard session loses a reply midway.
    net.script(&[Fault::Deliver, Fault::Deliver, Fault::DropReply, Fault::Deliver, Fault::DropRequest]);
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert!(report.docs[0].standard);
    assert!(matches!(report.docs[0].outcome, DocOutcome::Synced));
    assert_eq!(p.heads(), net.server(|s| s.docs[&key()].get_heads()));
    assert_eq!(p.phone.pending_edits(), 0);
}

#[tokio::test]
async fn a_reconnect_sends_only_what_is_new() {
    let (net, p) = setup().await;
    for month in 3..6 {
        p.phone.record_meeting(&meeting(month)).unwrap();
    }
    sync(&net, &p.phone, &quick()).await.unwrap();
    p.phone.record_meeting(&meeting(7)).unwrap();
    let p = p.restart();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let port = net.port_of(&p.phone);
    let phone = p.phone.clone();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        phone
            .sync(&port, &quick(), &mut |e| {
                if let SyncEvent::SendingFast { changes, .. } = e {
                    log.lock().unwrap().push(changes);
                }
            })
            .await
    });
    net.run(tasks).await.pop().unwrap().unwrap();
    assert_eq!(*sent.lock().unwrap(), vec![1], "only the new meeting was sent");
}

#[tokio::test]
async fn a_refusal_keeps_the_edits_names_the_rule_and_rebuild_keeps_what_passes() {
    let (net, p) = setup().await;
    // The township narrowed a rule; this phone still has the old catalog.
    net.server(|s| {
        s.catalog.point_rules.iter_mut().filter(|r| r.code.as_str() == "volunteer").for_each(|r| r.max = 3);
    });
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    let bad = p.phone.award_points(&points("volunteer", 5)).unwrap();
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    let (_, refusal) = report.refusals().next().expect("refused");
    assert_eq!(refusal.status, 422);
    assert_eq!(
        (refusal.violations[0].record.as_str(), refusal.violations[0].rule),
        (bad.as_str(), Rule::DeltaOutOfRange)
    );
    assert!(refusal.message.contains("分值应在 1 到 3 之间"), "{}", refusal.message);
    assert_eq!(p.phone.pending_edits(), 2, "the edits are kept");
    let status = p.phone.status().unwrap();
    assert_eq!(status.docs[0].refusal.as_ref(), Some(refusal));

    let mut tasks = tokio::task::JoinSet::new();
    let (phone, port) = (p.phone.clone(), p.port.clone());
    tasks.spawn(async move { phone.rebuild(&port, year()).await });
    let report = net.run(tasks).await.pop().unwrap().unwrap();
    assert_eq!(report.kept, 1);
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(report.dropped[0].violations[0].rule, Rule::DeltaOutOfRange);
    assert!(report.dropped[0].message.as_deref().unwrap().starts_with("奖励积分"));
    let records = p.phone.records(year()).unwrap();
    assert!(records.meetings.contains_key(&m) && !records.points.contains_key(&bad));
    assert!(p.phone.status().unwrap().docs[0].refusal.is_none());

    sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(p.phone.pending_edits(), 0);
    assert!(net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.meetings.contains_key(&m)));
    // Later edits sync normally.
    p.phone.award_points(&points("volunteer", 3)).unwrap();
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(report.refusals().count(), 0);
}

#[tokio::test]
async fn two_phones_that_set_the_same_field_offline_see_both_values() {
    let net = Net::new(Server::new(year(), 8, 2), 2);
    let a = SimPhone::new(&net, "cadre1");
    let b = SimPhone::new(&net, "cadre2");
    sync_all(&net, &[&a.phone, &b.phone], &quick()).await;
    // Both record something with a `by`, so each phone's account is known.
    a.phone.award_points(&points("volunteer", 1)).unwrap();
    b.phone.award_points(&points("honour", 5)).unwrap();
    let group = |g: &str| MemberChange::Group(Some(Name::parse(g).unwrap()));
    a.phone.change_member(year(), &mid("v1-m03"), &group("第三党小组")).unwrap();
    b.phone.change_member(year(), &mid("v1-m03"), &group("第四党小组")).unwrap();
    for _ in 0..2 {
        for r in sync_all(&net, &[&a.phone, &b.phone], &quick()).await {
            r.unwrap();
        }
    }
    assert_eq!(a.heads(), b.heads());
    let conflicts = a.phone.conflicts(year()).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    let c = &conflicts[0];
    assert_eq!((c.collection, c.record.as_str(), c.field.as_str()), (Collection::Members, "v1-m03", "group"));
    let mut who: Vec<_> =
        c.values.iter().map(|v| (v.account.clone().unwrap(), v.this_device, v.value.clone())).collect();
    who.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(who, vec![("cadre1".into(), true, "第三党小组".into()), ("cadre2".into(), false, "第四党小组".into())]);
    assert_eq!(b.phone.conflicts(year()).unwrap()[0].values.iter().filter(|v| v.this_device).count(), 1);
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The phone's background task with short waits (5 to 40 ms) and no retries inside a sync,
/// and the events it reported.
fn watched(p: &SimPhone) -> (zhibu_client::SyncTask, Arc<Mutex<Vec<SyncEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let options = WatchOptions {
        poll_every: Duration::from_secs(3600),
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
        sync: zhibu_client::SyncOptions { retry: zhibu_client::RetryPolicy { retries: 0, ..quick().retry }, ..quick() },
    };
    let task = p.phone.start_sync_task(p.port.clone(), options, move |e| seen.lock().unwrap().push(e));
    (task, events)
}

#[tokio::test]
async fn the_background_task_syncs_by_itself_when_the_network_returns() {
    let (net, p) = setup().await;
    let pump = net.spawn_pump();
    net.set_down(true);
    let (task, events) = watched(&p);
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    eventually("the task noticed it is offline", || {
        events.lock().unwrap().iter().filter(|e| matches!(e, SyncEvent::Offline { .. })).count() >= 3
    })
    .await;
    assert_eq!(p.phone.pending_edits(), 1);
    // The signal returns; nobody presses anything.
    net.set_down(false);
    eventually("the edit reached the server", || {
        net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.meetings.contains_key(&m))
    })
    .await;
    eventually("the outbox is empty", || p.phone.pending_edits() == 0).await;
    // A later edit wakes the task at once.
    let e = p.phone.award_points(&points("volunteer", 2)).unwrap();
    eventually("the next edit synced", || {
        net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.points.contains_key(&e))
    })
    .await;
    task.stop().await.unwrap();
    pump.abort();
    let offline = events.lock().unwrap().iter().filter(|e| matches!(e, SyncEvent::Offline { .. })).count();
    let waits: Vec<Duration> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| if let SyncEvent::Offline { retry_in, .. } = e { Some(*retry_in) } else { None })
        .collect();
    assert!(offline >= 3 && waits.iter().all(|w| *w <= Duration::from_millis(40)), "{waits:?}");
    let _ = mapping::read(&p.phone.document(&key()).unwrap()).unwrap().doc.members.len();
    let _ = p.phone.document(&key()).unwrap().get_heads();
    assert!(p.phone.document(&key()).unwrap().get(automerge::ROOT, "meetings").unwrap().is_some());
}

#[tokio::test]
async fn rebuild_remakes_later_edits_and_drops_those_that_needed_the_dropped_one() {
    let (net, p) = setup().await;
    net.server(|s| {
        s.catalog.point_rules.iter_mut().filter(|r| r.code.as_str() == "volunteer").for_each(|r| r.max = 3);
    });
    // The bad edit comes first: everything after it builds on it in Automerge's history.
    let bad = p.phone.award_points(&points("volunteer", 5)).unwrap();
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    p.phone.set_attendance(&m, &mid("v1-m02"), &Attendance::absent()).unwrap();
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(report.refusals().count(), 1);

    let (phone, port) = (p.phone.clone(), p.port.clone());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move { phone.rebuild(&port, year()).await });
    let report = net.run(tasks).await.pop().unwrap().unwrap();
    assert_eq!((report.kept, report.remade, report.dropped.len()), (0, 2, 1), "{report:#?}");
    assert!(report.dropped[0].message.as_deref().unwrap().starts_with("奖励积分"));
    assert!(report.dropped[0].violations.iter().any(|v| v.rule == Rule::DeltaOutOfRange), "{:?}", report.dropped[0]);

    let records = p.phone.records(year()).unwrap();
    assert!(!records.points.contains_key(&bad));
    assert_eq!(records.meetings[&m].attendance[&mid("v1-m02")], Attendance::absent());
    assert_eq!(p.phone.pending_edits(), 2);
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(report.refusals().count(), 0);
    let server = net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc);
    assert_eq!(server.meetings[&m].attendance[&mid("v1-m02")], Attendance::absent());
    assert_eq!(p.heads(), net.server(|s| s.docs[&key()].get_heads()));
}

/// An entry the township's catalog came to forbid while the phone was offline (a range
/// narrowed) is refused; voided on the phone, as the cadre is told, the next sync stores it
/// voided with every other edit, no rebuild needed.
#[tokio::test]
async fn an_entry_refused_under_a_narrowed_catalog_is_corrected_by_voiding_it() {
    let (net, p) = setup().await;
    net.server(|s| {
        s.catalog.point_rules.iter_mut().filter(|r| r.code.as_str() == "volunteer").for_each(|r| r.max = 3);
    });
    let bad = p.phone.award_points(&points("volunteer", 5)).unwrap();
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    assert_eq!(sync(&net, &p.phone, &quick()).await.unwrap().refusals().count(), 1);
    p.phone.void_points(&bad, &text("分值超出新目录")).unwrap();
    assert_eq!(sync(&net, &p.phone, &quick()).await.unwrap().refusals().count(), 0);
    let server = net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc);
    assert!(server.points[&bad].voided.is_some() && server.meetings.contains_key(&m));
    assert_eq!(p.phone.pending_edits(), 0);
}

/// cadre2 logs in on cadre1's phone and awards points: the entry's id.
fn second_cadre_records(p: &SimPhone) -> zhibu_client::zhibu_schema::RecordId {
    p.phone.set_session(common::cadre_session("cadre2")).unwrap();
    p.phone.award_points(&points("volunteer", 2)).unwrap()
}

/// What was still going on under cadre1's login ended, and cadre2's entry `e` waits on the
/// phone, not sent with cadre1's token.
fn assert_kept_for_the_second_cadre(
    net: &Net,
    p: &SimPhone,
    ended: &Result<(), zhibu_client::ClientError>,
    e: &zhibu_client::zhibu_schema::RecordId,
) {
    assert!(matches!(ended, Err(zhibu_client::ClientError::SessionExpired(_))), "{ended:?}");
    assert!(!net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.points.contains_key(e)), "not sent");
    assert_eq!(p.phone.pending_edits(), 1, "kept for the second cadre's own sync");
}

/// Another cadre logs in on the phone while its background task runs: the task, whose
/// transport carries the first cadre's login, stops rather than push the second cadre's edits
/// with it (the server would bind their actor to the first cadre for good).
#[tokio::test]
async fn the_background_task_stops_when_the_login_changes() {
    let (net, p) = setup().await;
    let pump = net.spawn_pump();
    let options = WatchOptions { poll_every: Duration::from_secs(3600), ..WatchOptions::default() };
    let mut task = p.phone.start_sync_task(p.port.clone(), options, |_| {});
    eventually("nothing waits", || p.phone.pending_edits() == 0).await;
    let e = second_cadre_records(&p);
    let ended = tokio::time::timeout(Duration::from_secs(10), task.wait()).await.expect("the task ends");
    assert_kept_for_the_second_cadre(&net, &p, &ended.map(|_| ()), &e);
    pump.abort();
}

/// A store that fails to write during a sync (a full disk; here a folder stands where the sync
/// metadata goes) does not end the background task: it reports the failure, tries again after
/// the doubling wait, and writes once the store can, without anyone restarting the app.
#[tokio::test]
async fn the_background_task_outlasts_a_store_that_fails_to_write() {
    let (net, p) = setup().await;
    let pump = net.spawn_pump();
    let meta = p.dir.path().join(format!("v1.{}.sync.json", year()));
    std::fs::remove_file(&meta).unwrap();
    std::fs::create_dir_all(meta.join("in-the-way")).unwrap();
    let (task, events) = watched(&p);
    let e = p.phone.award_points(&points("volunteer", 2)).unwrap();
    eventually("the store failed three times", || {
        events.lock().unwrap().iter().filter(|e| matches!(e, SyncEvent::Failed { .. })).count() >= 3
    })
    .await;
    assert!(!task.is_finished(), "the task goes on");
    assert!(!meta.is_file());
    // Space is freed.
    std::fs::remove_dir_all(&meta).unwrap();
    eventually("the sync metadata was written", || meta.is_file()).await;
    assert!(net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.points.contains_key(&e)));
    assert!(!task.is_finished());
    task.stop().await.unwrap();
    pump.abort();
}

/// A server too busy to take a document answers it 409: that is no refusal of the edits. They
/// wait, unrecorded (no rebuild is suggested), and the background task tries again after its
/// doubling wait rather than at once.
#[tokio::test]
async fn a_busy_server_is_no_refusal_and_the_task_tries_again_later() {
    let (net, p) = setup().await;
    let m = p.phone.record_meeting(&meeting(3)).unwrap();
    net.server(|s| s.busy_next = 1);
    let report = sync(&net, &p.phone, &quick()).await.unwrap();
    assert_eq!(report.refusals().count(), 0, "{report:?}");
    assert_eq!(report.later().count(), 1, "{report:?}");
    assert_eq!(p.phone.pending_edits(), 1, "the edit waits");
    assert!(p.phone.status().unwrap().docs.iter().all(|d| d.refusal.is_none()), "nothing recorded as refused");

    // The task: busy three times, each followed by a wait; then stored.
    net.server(|s| s.busy_next = 3);
    let pump = net.spawn_pump();
    let (task, events) = watched(&p);
    eventually("the meeting reached the server", || {
        net.server(|s| mapping::read(&s.docs[&key()]).unwrap().doc.meetings.contains_key(&m))
    })
    .await;
    task.stop().await.unwrap();
    pump.abort();
    let waits = events.lock().unwrap().iter().filter(|e| matches!(e, SyncEvent::Offline { .. })).count();
    assert!(waits >= 3, "a wait after each busy answer: {waits}");
}

/// A sync begun under one login, still retrying when another cadre logs in on the phone and
/// records something, stops rather than send that cadre's edit with the first login's token
/// (the server would bind the second cadre's actor to the first for good).
#[tokio::test]
async fn a_sync_begun_under_one_login_stops_when_another_logs_in() {
    let (net, p) = setup().await;
    net.set_down(true);
    let pump = net.spawn_pump();
    let options = zhibu_client::SyncOptions {
        retry: zhibu_client::RetryPolicy {
            retries: 500,
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_millis(10),
        },
        ..quick()
    };
    let (phone, port) = (p.phone.clone(), p.port.clone());
    let sync = tokio::spawn(async move { phone.sync(&port, &options, &mut |_| {}).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = second_cadre_records(&p);
    net.set_down(false);
    let ended = tokio::time::timeout(Duration::from_secs(10), sync).await.expect("ends").expect("task");
    assert_kept_for_the_second_cadre(&net, &p, &ended.map(|_| ()), &e);
    pump.abort();
}

/// The app killed in the middle of rebuilding a damaged year, after the damaged files were set
/// aside and before the year was written anew: at the next opening the files go back and the
/// year is damaged again, so that the edits found in them are not forgotten beside the store.
#[tokio::test]
async fn a_rebuild_cut_short_puts_the_damaged_files_back_at_opening() {
    let (_net, p) = setup().await;
    p.phone.award_points(&points("volunteer", 2)).unwrap();
    let dir = p.dir.path().to_owned();
    let stem = format!("v1.{}", year());
    let p = p.restart();
    let log = dir.join(format!("{stem}.log"));
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[..8].copy_from_slice(b"garbage!");
    std::fs::write(&log, &bytes).unwrap();
    let p = p.restart();
    assert_eq!(p.phone.damaged_documents(), vec![key()]);
    // What the rebuild does before it writes the year anew, and no more.
    let aside = dir.join(format!("{stem}.damaged-1"));
    std::fs::create_dir(&aside).unwrap();
    for ext in ["snap", "log", "sync.json"] {
        let file = dir.join(format!("{stem}.{ext}"));
        if file.exists() {
            std::fs::rename(&file, aside.join(format!("{stem}.{ext}"))).unwrap();
        }
    }
    std::fs::write(aside.join("REBUILDING"), "damaged").unwrap();
    let p = p.restart();
    assert_eq!(p.phone.damaged_documents(), vec![key()], "damaged again");
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "the damaged log is back as it was");
    assert!(!aside.exists(), "and its folder gone");
}
