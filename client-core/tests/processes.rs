//! The phone store under real processes: a writer killed with SIGKILL at random instants, many
//! times, never loses an edit whose call returned and never leaves a store that does not open;
//! and a second process that opens a store in use gets a clear lock error.
//!
//! Each test re-runs this test binary as its child (`--exact NAME`, with `ZHIBU_CHILD_DIR`
//! set), so the child runs the library exactly as the app would.

mod common;

use std::collections::BTreeSet;
use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{cadre_session, day, year};
use zhibu_client::zhibu_schema::{
    Attendance, Code, Meeting, MeetingKind, Member, MemberId, MemberStatus, PointDelta, RecordId, Text,
};
use zhibu_client::{ClientError, NewCase, NewPoints, Phone, PhoneOptions, store::StoreError};

const CHILD_DIR: &str = "ZHIBU_CHILD_DIR";
const ROUNDS: usize = 30;

fn text<const N: usize, const L: bool>(s: &str) -> Text<N, L> {
    Text::parse(s).unwrap()
}

fn options() -> PhoneOptions {
    // Small, so that compactions happen while the writer is being killed.
    PhoneOptions { compact_log_bytes: 8 * 1024 }
}

#[test]
fn killing_the_app_at_random_never_loses_an_edit_whose_call_returned() {
    if let Some(dir) = child_dir() {
        edit_until_killed(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    {
        let phone = Phone::open(tmp.path()).unwrap();
        phone.set_session(cadre_session("cadre1")).unwrap();
        for i in 1..=6 {
            let id = MemberId::parse(&format!("v1-m{i:02}")).unwrap();
            phone.add_member(year(), &id, &Member::new(text("党员"), MemberStatus::Full)).unwrap();
        }
    }
    let mut rng = fastrand::Rng::new();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = spawn_self("killing_the_app_at_random_never_loses_an_edit_whose_call_returned", tmp.path());
        thread::sleep(Duration::from_millis(rng.u64(30..=250)));
        let output = child.kill_and_collect();
        acked.extend(output.lines().filter(|l| l.starts_with("ack ")).map(str::to_owned));

        // The store opens (the dead writer's lock is gone) and holds every acknowledged edit.
        let phone = Phone::open_with(tmp.path(), options()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let records = phone.records(year()).unwrap();
        for line in &acked {
            let words: Vec<&str> = line.split(' ').collect();
            let id = |i: usize| RecordId::parse(words[i]).unwrap();
            let present = match words[1] {
                "meeting" => records.meetings.contains_key(&id(2)),
                "points" => records.points.contains_key(&id(2)),
                "case" => records.cases.contains_key(&id(2)),
                "attend" => records.meetings[&id(2)].attendance.contains_key(&MemberId::parse(words[3]).unwrap()),
                "step" => records.cases[&id(2)].steps.contains_key(&Code::parse(words[3]).unwrap()),
                other => panic!("unknown ack {other}"),
            };
            assert!(present, "round {round}: acknowledged edit lost: {line}");
        }
    }
    let kinds: BTreeSet<&str> = acked.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    eprintln!("{ROUNDS} kills, {} acknowledged edits of kinds {kinds:?}", acked.len());
    assert!(acked.len() >= 100, "the writer barely ran: {} edits", acked.len());
    assert!(
        tmp.path().join(format!("v1.{}.snap", year())).exists(),
        "no compaction happened while edits were being killed"
    );
}

/// Edits forever, printing an acknowledgement after each call returned `Ok`.
fn edit_until_killed(dir: &Path) -> ! {
    let phone = Phone::open_with(dir, options()).expect("child: open");
    let members: Vec<MemberId> = phone.records(year()).unwrap().members.into_keys().collect();
    let mut out = io::stdout().lock();
    writeln!(out).expect("parent gone");
    let (mut meeting, mut case): (Option<RecordId>, Option<RecordId>) = (None, None);
    for n in 0usize.. {
        let member = &members[n % members.len()];
        let line = match n % 5 {
            0 => {
                let mut m = Meeting::new(MeetingKind::ThemeDay, day(1 + (n % 12) as u8, 10), text("主题党日"));
                for id in &members {
                    m.attendance.insert(id.clone(), Attendance::present());
                }
                let id = phone.record_meeting(&m).expect("child: meeting");
                meeting = Some(id.clone());
                format!("meeting {id}")
            }
            1 => {
                let id = meeting.clone().unwrap();
                let a = if n % 2 == 0 { Attendance::absent() } else { Attendance::leave(text("外出"), None) };
                phone.set_attendance(&id, member, &a).expect("child: attendance");
                format!("attend {id} {member}")
            }
            2 => {
                let p = NewPoints {
                    member_id: member.clone(),
                    rule: Code::parse("volunteer").unwrap(),
                    delta: PointDelta::new(1 + (n % 5) as i64).unwrap(),
                    on: day(3, 1),
                    note: Some(text("义务劳动")),
                };
                format!("points {}", phone.award_points(&p).expect("child: points"))
            }
            3 => {
                let c = NewCase {
                    item: Code::parse("certificate").unwrap(),
                    title: text("开具证明"),
                    opened_on: day(2, 1),
                    applicant: None,
                };
                let id = phone.open_case(&c).expect("child: case");
                case = Some(id.clone());
                format!("case {id}")
            }
            _ => {
                let id = case.clone().unwrap();
                let step = ["application", "verification", "issue"][n % 3];
                phone.complete_step(&id, &Code::parse(step).unwrap(), day(2, 2), None).expect("child: step");
                format!("step {id} {step}")
            }
        };
        writeln!(out, "ack {line}").and_then(|()| out.flush()).expect("parent gone");
    }
    unreachable!()
}

#[test]
fn a_second_process_gets_a_clear_lock_error_and_the_store_is_unharmed() {
    if let Some(dir) = child_dir() {
        hold_until_stdin_closes(&dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    {
        let phone = Phone::open(tmp.path()).unwrap();
        phone.set_session(cadre_session("cadre1")).unwrap();
        phone
            .add_member(year(), &MemberId::parse("v1-m01").unwrap(), &Member::new(text("党员"), MemberStatus::Full))
            .unwrap();
    }
    let before = files(tmp.path());
    let mut child = spawn_self("a_second_process_gets_a_clear_lock_error_and_the_store_is_unharmed", tmp.path());
    child.wait_for_line("opened");

    let err = Phone::open(tmp.path()).unwrap_err();
    assert!(matches!(err, ClientError::Store(StoreError::Locked { .. })), "{err:?}");
    assert!(err.to_string().contains("正被另一个 zhibu 程序使用"), "{err}");
    let zhibu = Command::new(env!("CARGO_BIN_EXE_zhibu")).arg("--dir").arg(tmp.path()).arg("status").output().unwrap();
    assert_eq!(zhibu.status.code(), Some(7), "the program says the store is locked");
    assert!(String::from_utf8_lossy(&zhibu.stderr).contains("正被另一个 zhibu 程序使用"));

    child.kill_and_collect();
    assert_eq!(files(tmp.path()), before, "the refused opener changed nothing");
    let phone = Phone::open(tmp.path()).expect("free again once its holder is gone");
    assert_eq!(phone.records(year()).unwrap().members.len(), 1);
}

fn hold_until_stdin_closes(dir: &Path) -> ! {
    let _phone = Phone::open(dir).expect("child: open");
    let mut out = io::stdout().lock();
    writeln!(out, "\nopened").and_then(|()| out.flush()).expect("parent gone");
    thread::spawn(|| {
        let _ = io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    thread::sleep(Duration::from_secs(30));
    std::process::exit(1);
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

fn child_dir() -> Option<PathBuf> {
    env::var_os(CHILD_DIR).map(PathBuf::from)
}

/// A child that is killed when dropped, so a failing assertion does not leak it.
struct ChildGuard(Child);

impl ChildGuard {
    fn wait_for_line(&mut self, want: &str) {
        let mut stdout = BufReader::new(self.0.stdout.as_mut().unwrap());
        let mut line = String::new();
        while line.trim_end() != want {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "child exited before saying {want}");
        }
    }

    fn kill_and_collect(&mut self) -> String {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
        let stderr = read_all(self.0.stderr.take());
        assert!(!stderr.contains("panicked"), "child failed:\n{stderr}");
        read_all(self.0.stdout.take())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_self(test: &str, dir: &Path) -> ChildGuard {
    let child = Command::new(env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard(child)
}

fn read_all(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_string(&mut text).unwrap();
    }
    text
}
