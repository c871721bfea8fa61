//! Scenarios with the real phone library and the real `zhibu` program against the real server:
//! two cadres working offline on two phones; a refusal that keeps the phone's edits and a
//! rebuild; a cadre using the command line from login to sync.

use std::process::Command;

use tempfile::TempDir;
use zhibu_client::{DocOutcome, HttpTransport, NewPoints, Phone, SyncOptions};
use zhibu_schema::{Attendance, Code, Line, Meeting, MeetingKind, MemberId, PointDelta, Prose, RecordId};
use zhibu_tests::{Backend, PASSWORD, TestApp, backends};

struct Cadre {
    phone: Phone,
    _dir: TempDir,
}

impl Cadre {
    async fn login(app: &TestApp, user: &str) -> Cadre {
        let dir = tempfile::tempdir().expect("dir");
        let phone = Phone::open(dir.path()).expect("opens");
        zhibu_client::login(&phone, &app.url, user, PASSWORD).await.expect("login");
        Cadre { phone, _dir: dir }
    }

    async fn sync(&self) -> Vec<DocOutcome> {
        let transport = HttpTransport::for_phone(&self.phone).expect("transport");
        let report = self.phone.sync(&transport, &SyncOptions::no_retry(), &mut |_| {}).await.expect("sync runs");
        report.docs.into_iter().map(|d| d.outcome).collect()
    }

    async fn synced(&self) {
        assert!(self.sync().await.iter().all(|o| *o == DocOutcome::Synced));
    }
}

fn member(n: usize) -> MemberId {
    MemberId::parse(&format!("v1-m{n:02}")).expect("id")
}

fn points(n: usize, rule: &str, delta: i64, app: &TestApp) -> NewPoints {
    NewPoints {
        member_id: member(n),
        rule: Code::parse(rule).expect("rule"),
        delta: PointDelta::new(delta).expect("delta"),
        on: app.year.first_day().add_days(60).expect("day"),
        note: Some(Prose::parse("离线录入").expect("note")),
    }
}

/// Two cadres of one village offline on two phones: a meeting each, different attendance for
/// the same member of the same meeting, points; they sync in the order given.
async fn two_cadres(backend: Backend, a_first: bool) {
    let Some(app) = TestApp::start(backend).await else { return };
    let a = Cadre::login(&app, "cadre1").await;
    let b = Cadre::login(&app, "cadre2").await;
    a.synced().await;
    // A shared meeting both phones have before going offline.
    let day = |n| app.year.first_day().add_days(n).expect("day");
    let mut shared = Meeting::new(MeetingKind::BranchAssembly, day(40), Line::parse("学习全会精神").expect("l"));
    for n in 1..=12 {
        shared.attendance.insert(member(n), Attendance::present());
    }
    let shared_id = a.phone.record_meeting(&shared).expect("recorded");
    a.synced().await;
    b.synced().await;

    // Offline.
    let ma = a
        .phone
        .record_meeting(&Meeting::new(MeetingKind::ThemeDay, day(41), Line::parse("主题党日").expect("l")))
        .expect("a");
    let mb = b
        .phone
        .record_meeting(&Meeting::new(MeetingKind::PartyLesson, day(42), Line::parse("党课").expect("l")))
        .expect("b");
    a.phone.set_attendance(&shared_id, &member(5), &Attendance::absent()).expect("a marks absent");
    let leave = Attendance::leave(Prose::parse("外出务工").expect("p"), None);
    b.phone.set_attendance(&shared_id, &member(5), &leave).expect("b marks leave");
    let pa = a.phone.award_points(&points(1, "volunteer", 3, &app)).expect("a awards");
    let pb = b.phone.award_points(&points(2, "dues_late", -2, &app)).expect("b deducts");
    assert!(a.phone.pending_edits() >= 3 && b.phone.pending_edits() >= 3);

    let (first, second) = if a_first { (&a, &b) } else { (&b, &a) };
    first.synced().await;
    second.synced().await;
    first.synced().await;

    let server = app.records("v1").await;
    for phone in [&a.phone, &b.phone] {
        let records = phone.records(app.year).expect("records");
        assert_eq!(records, server, "phone and server agree on every record");
        assert_eq!(phone.pending_edits(), 0, "nothing left to send");
    }
    for id in [&ma, &mb, &shared_id] {
        assert!(server.meetings.contains_key(id));
    }
    assert!(server.points.contains_key(&pa) && server.points.contains_key(&pb));
    // The member's entry is one phone's or the other's, whole: never absent with the other
    // phone's reason for a leave.
    let shown = &server.meetings[&shared_id].attendance[&member(5)];
    assert!(*shown == Attendance::absent() || *shown == leave, "{shown:?}");
    let docs = |p: &Phone| {
        p.document(&zhibu_client::DocKey { village: zhibu_schema::VillageId::parse("v1").expect("id"), year: app.year })
            .map(|d| d.get_heads())
    };
    assert_eq!(docs(&a.phone), docs(&b.phone));

    // The attendance both set differently is reported, with both values and who wrote them.
    for phone in [&a.phone, &b.phone] {
        let conflicts = phone.conflicts(app.year).expect("conflicts");
        let c = conflicts
            .iter()
            .find(|c| c.record == shared_id.to_string() && c.field.starts_with("attendance.v1-m05"))
            .unwrap_or_else(|| panic!("conflict reported: {conflicts:#?}"));
        let values: Vec<String> = c.values.iter().map(|v| v.value.to_string()).collect();
        assert_eq!(c.values.len(), 2, "{values:?}");
        assert!(
            values.iter().any(|v| v.contains("absent")) && values.iter().any(|v| v.contains("leave")),
            "{values:?}"
        );
        assert_eq!(c.values.iter().filter(|v| v.this_device).count(), 1, "one value is this phone's own");
    }
    // The township sees it on the meeting's history page: both values, which one the record
    // shows, and whose phone wrote each.
    let staff = app.token("staff1").await;
    let history = format!("/villages/v1/history/meeting/{shared_id}?year={}", app.year);
    let (status, page) = app.get(&staff, &history).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    let section = page.split("id=\"conflicts\"").nth(1).unwrap_or_else(|| panic!("a conflicts section: {page}"));
    let section = &section[..section.find("</section>").expect("end")];
    assert!(section.contains("出勤 · ") && section.contains("请假事由：外出务工"), "{section}");
    assert!(section.contains("「出勤：缺席」") && section.contains("「出勤：请假，"), "{section}");
    assert!(section.contains("cadre1") && section.contains("cadre2") && section.contains("未采用"), "{section}");
    let adopted = &section[..section.find("<strong>采用").expect("the value shown")];
    let adopted = adopted.rsplit('「').next().expect("a value");
    assert!(adopted.contains(if *shown == leave { "请假" } else { "缺席" }), "{adopted}");
    // The village page points to it.
    let (status, page) = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    let section = page.split("id=\"conflicts\"").nth(1).unwrap_or_else(|| panic!("a conflicts section: {page}"));
    let section = &section[..section.find("</section>").expect("end")];
    assert!(
        section.contains("合并冲突 1 条记录")
            && section.contains("学习全会精神")
            && section.contains(&shared_id.to_string()),
        "{section}"
    );
}

async fn a_then_b(backend: Backend) {
    two_cadres(backend, true).await
}
async fn b_then_a(backend: Backend) {
    two_cadres(backend, false).await
}
backends!(two_cadres_offline_sync_a_first, a_then_b);
backends!(two_cadres_offline_sync_b_first, b_then_a);

/// A case step one cadre recorded is recorded again by another (a corrected day): the step is
/// made anew in the second cadre's name, keeping the first one's note, and the server stores it.
/// Writing into another's entry is refused, so the phone never does.
async fn step_again(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let a = Cadre::login(&app, "cadre1").await;
    let b = Cadre::login(&app, "cadre2").await;
    let day = |n| app.year.first_day().add_days(n).expect("day");
    let case = zhibu_client::NewCase {
        item: Code::parse("homestead").expect("item"),
        title: Line::parse("李家宅基地申请").expect("title"),
        opened_on: day(30),
        applicant: None,
    };
    let id = a.phone.open_case(&case).expect("opened");
    let step = Code::parse("application").expect("step");
    a.phone.complete_step(&id, &step, day(30), Some(&Prose::parse("申请书已收").expect("note"))).expect("a's step");
    a.synced().await;
    b.synced().await;
    b.phone.complete_step(&id, &step, day(31), None).expect("b records it again");
    b.synced().await;
    a.synced().await;
    let server = app.records("v1").await;
    let recorded = &server.cases[&id].steps[&step];
    assert_eq!(recorded.by.as_str(), "cadre2");
    assert_eq!(recorded.done_on, day(31));
    assert_eq!(recorded.note.as_ref().map(ToString::to_string).as_deref(), Some("申请书已收"));
    assert_eq!(a.phone.records(app.year).expect("records"), server);
    // And back: the first cadre's own correction is again a step made anew, in their name.
    a.phone.complete_step(&id, &step, day(32), None).expect("a again");
    a.synced().await;
    assert_eq!(app.records("v1").await.cases[&id].steps[&step].by.as_str(), "cadre1");
}
backends!(a_step_another_cadre_recorded_is_recorded_again_in_ones_own_name, step_again);

/// Two cadres offline each make a valid edit of one member (one sets the day they left, the
/// other the day they came), and the two together break the rule that one comes before the
/// other. The second phone's sync is stored with every other edit it holds, not refused for
/// what it never saw, and both phones list the record to correct.
async fn merged_problem(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let a = Cadre::login(&app, "cadre1").await;
    let b = Cadre::login(&app, "cadre2").await;
    a.synced().await;
    b.synced().await;
    let day = |n| app.year.first_day().add_days(n).expect("day");
    a.phone.change_member(app.year, &member(9), &zhibu_client::MemberChange::Left(day(300))).expect("a: left");
    b.phone.change_member(app.year, &member(9), &zhibu_client::MemberChange::Arrived(day(303))).expect("b: arrived");
    let award = b.phone.award_points(&points(2, "volunteer", 3, &app)).expect("b awards");
    a.synced().await;
    b.synced().await;
    a.synced().await;
    assert!(app.records("v1").await.points.contains_key(&award), "b's other edit is stored");
    for phone in [&a.phone, &b.phone] {
        let problems = phone.problems(app.year).expect("problems");
        assert!(
            problems.iter().any(|p| p.record == "v1-m09" && p.rule == zhibu_schema::Rule::DateOrder),
            "{problems:?}"
        );
    }
    // The township sees it too (记录矛盾): in the report, on the dashboard and the village page.
    let staff = app.token("staff1").await;
    let report = format!("/v1/townships/t1/report?year={}", app.year);
    let problems = |body: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(body).expect("report");
        let v1 = v["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").cloned();
        v1.expect("v1")["record_problems"].as_array().expect("record_problems").clone()
    };
    let listed = problems(&app.get(&staff, &report).await.1);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((&listed[0]["collection"], &listed[0]["record_id"]), (&"members".into(), &"v1-m09".into()));
    assert_eq!(listed[0]["rule"], "date_order");
    let described = listed[0]["described"].as_str().expect("described").to_owned();
    assert!(described.starts_with("党员 v1-m09"), "{described}");
    let page = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await;
    let page = String::from_utf8_lossy(&page.1).into_owned();
    assert!(page.contains("记录矛盾 1 处") && page.contains(&described), "{page}");
    let page = app.get(&staff, &format!("/township?township=t1&year={}", app.year)).await;
    assert!(String::from_utf8_lossy(&page.1).contains("1 处记录自相矛盾"));
    // Made again from the records (a catalog change, the start's catch-up), the rows are the same.
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu-server-under-test"))
        .args(["--database-url", &app.db.url, "admin", "set-catalog", "t1"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(problems(&app.get(&staff, &report).await.1), listed);
    // Corrected on either phone, it is gone on both, and from the report.
    a.phone.change_member(app.year, &member(9), &zhibu_client::MemberChange::Left(day(310))).expect("corrected");
    a.synced().await;
    b.synced().await;
    assert_eq!(b.phone.problems(app.year).expect("problems"), []);
    assert_eq!(problems(&app.get(&staff, &report).await.1), Vec::<serde_json::Value>::new());
}
backends!(a_rule_broken_where_two_phones_edits_meet_is_stored_and_shown_to_correct, merged_problem);

/// The township narrows a rule after the phone cached the catalog: the server refuses (422),
/// the phone keeps every edit and says which record broke which rule; rebuild keeps what still
/// passes and drops the rest.
async fn refusal_and_rebuild(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let a = Cadre::login(&app, "cadre1").await;
    a.synced().await;
    let mut narrow = zhibu_schema::Catalog::default();
    narrow.point_rules.iter_mut().filter(|r| r.code.as_str() == "volunteer").for_each(|r| r.max = 3);
    app.state.db.set_township_catalog("t1", Some(&serde_json::to_string(&narrow).expect("json"))).await.expect("set");

    let ok = a.phone.award_points(&points(1, "honour", 6, &app)).expect("fine under any catalog");
    let bad = a.phone.award_points(&points(2, "volunteer", 5, &app)).expect("fine under the phone's old catalog");
    let before = a.phone.records(app.year).expect("records");
    let outcomes = a.sync().await;
    let DocOutcome::Refused(refusal) = &outcomes[0] else { panic!("refused: {outcomes:?}") };
    assert_eq!(refusal.status, 422);
    assert_eq!(refusal.violations[0].record, bad.to_string());
    assert!(refusal.message.contains("应在 1 到 3 之间"), "{}", refusal.message);
    assert_eq!(a.phone.records(app.year).expect("records"), before, "the phone keeps its edits");
    assert!(a.phone.pending_edits() >= 2);
    let status = a.phone.status().expect("status");
    assert!(status.docs.iter().any(|d| d.refusal.is_some()), "the refusal is shown until resolved");
    assert!(!app.records("v1").await.points.contains_key(&ok), "the server stored nothing of the push");

    let transport = HttpTransport::for_phone(&a.phone).expect("transport");
    let report = a.phone.rebuild(&transport, app.year).await.expect("rebuild");
    assert_eq!(report.dropped.len(), 1, "{report:?}");
    assert_eq!(report.dropped[0].violations[0].record, bad.to_string());
    // The dropped edit's content is kept: the document before the rebuild, beside the store.
    let saved = report.saved_as.as_ref().expect("the document before the rebuild is kept");
    let before_rebuild = zhibu_schema::guard::load_document(&std::fs::read(saved).expect("saved")).expect("loads");
    let kept = zhibu_schema::mapping::read(&before_rebuild).expect("reads").doc;
    assert!(kept.points.contains_key(&bad), "the dropped entry can be recovered from it");
    a.synced().await;
    let server = app.records("v1").await;
    assert!(server.points.contains_key(&ok), "the edit that still passes reached the server");
    assert!(!server.points.contains_key(&bad));
    assert_eq!(a.phone.records(app.year).expect("records"), server);
}
backends!(a_refusal_keeps_edits_and_rebuild_keeps_what_passes, refusal_and_rebuild);

fn zhibu(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu-under-test"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("zhibu runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A cadre on the command line: login, record a meeting offline, see it waiting, sync, and the
/// township's report shows it; a member sees their own points with `zhibu me`.
async fn command_line(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = logged_in(&app, "cadre1");
    let d = dir.path();
    let held = app.year.first_day().add_days(70).expect("day").to_string();
    let (code, out, err) = zhibu(
        d,
        &[
            "meeting",
            "record",
            "--kind",
            "theme_day",
            "--date",
            &held,
            "--topic",
            "主题党日：学习新思想",
            "--all-present",
            "--absent",
            "v1-m01",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = zhibu(d, &["--json", "status"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).expect("json status");
    assert!(status["pending"].as_u64().is_some_and(|n| n >= 1), "{status}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m01", "volunteer", "9"]);
    assert_eq!(code, 3, "refused on the phone: {out}{err}");
    assert!(format!("{out}{err}").contains("应在 1 到 5 之间"), "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let server = app.records("v1").await;
    let meeting = server.meetings.values().find(|m| m.topic.as_str() == "主题党日：学习新思想").expect("on the server");
    assert_eq!(
        meeting.attendance.get(&member(1)).map(|a| a.status),
        Some(zhibu_schema::AttendanceStatus::Absent),
        "{:?}",
        meeting.attendance
    );

    // A leaving day before the year, on that year's roster: kept, and said what it means.
    let (year, before) = (app.year.to_string(), app.year.first_day().add_days(-1).expect("day").to_string());
    let (code, out, err) = zhibu(d, &["--year", &year, "roster", "leave", "v1-m12", &before]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("离开日期 {before} 在 {year} 年之前")), "{err}");

    let member_dir = tempfile::tempdir().expect("dir");
    // A mistyped address or command line is the cadre's to fix (exit 2), said in Chinese.
    let ftp = app.url.replacen("http://", "ftp://", 1);
    let (code, _, err) = zhibu(member_dir.path(), &["login", "--server", &ftp, "--user", "v1-m01"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("服务器地址要以 http:// 或 https:// 开头"), "{err}");
    let (code, _, err) = zhibu(member_dir.path(), &["roster", "list", "extra"]);
    assert!(code == 2 && err.contains("多写了「extra」"), "{err}");
    let (code, _, err) = zhibu(member_dir.path(), &[]);
    assert!(code == 2 && err.contains("缺少命令") && err.contains("用法：zhibu"), "{err}");
    let alone = Command::new(env!("CARGO_BIN_EXE_zhibu-under-test")).output().expect("zhibu runs");
    let said = String::from_utf8_lossy(&alone.stderr);
    assert!(alone.status.code() == Some(2) && said.contains("命令:"), "zhibu alone lists its commands: {said}");
    let (code, out, err) =
        zhibu(member_dir.path(), &["login", "--server", &app.url, "--user", "v1-m01", "--password", PASSWORD]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(member_dir.path(), &["--json", "me"]);
    assert_eq!(code, 0, "{out}{err}");
    let me: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(me["member_id"], "v1-m01");
    assert_eq!(me["total"], 98);
    let (code, _, _) = zhibu(member_dir.path(), &["sync"]);
    assert_ne!(code, 0, "a member cannot sync a village");
    let _ = RecordId::new_v7();
}
backends!(a_cadre_uses_the_zhibu_program, command_line);

/// A meeting dated after today: the program warns but keeps it (the phone's clock may be the
/// one that is wrong), and once synced the township sees it as 提前录入 in the report, its
/// CSV and its workbook, and on the village's page.
async fn dated_ahead(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (code, out, err) = zhibu(d, &["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD]);
    assert_eq!(code, 0, "{out}{err}");
    // Next year's 5 January is ahead whatever today is.
    let next = i64::from(app.year) + 1;
    let day = format!("{next}-01-05");
    let args = ["meeting", "record", "--kind", "theme_day", "--date", &day, "--topic", "事先写好的主题党日"];
    let (code, out, err) = zhibu(d, &args);
    assert_eq!(code, 0, "kept: {out}{err}");
    assert!(err.contains(&format!("注意：日期 {day} 在今天")) && err.contains("提前录入"), "{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");

    let token = app.token("staff1").await;
    let (status, body) = app.get(&token, &format!("/v1/townships/t1/report?year={next}")).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let early = v1["early_entries"].as_array().expect("early entries");
    assert_eq!(early.len(), 1, "{v1}");
    assert_eq!((early[0]["record"].as_str(), early[0]["dated"].as_str()), (Some("meeting"), Some(day.as_str())));
    assert!(early[0]["what"].as_str().is_some_and(|w| w.contains("事先写好的主题党日")), "{early:?}");
    assert!(early[0]["days_early"].as_i64().is_some_and(|n| n >= 1), "{early:?}");
    assert_eq!(v1["early_in_period"], 1);
    assert_eq!(v1["late_entries"].as_array().map(Vec::len), Some(0));

    let (status, csv) = app.get(&token, &format!("/v1/townships/t1/report.csv?year={next}")).await;
    assert_eq!(status, 200);
    let mut csv = csv::Reader::from_reader(&csv[..]);
    let column = csv.headers().expect("header").iter().position(|h| h == "提前录入条数").expect("column");
    let row = csv.records().map(|r| r.expect("row")).find(|r| &r[0] == "v1").expect("v1's row");
    assert_eq!(&row[column], "1");
    let (status, xlsx) = app.get(&token, &format!("/v1/townships/t1/report.xlsx?year={next}")).await;
    assert_eq!(status, 200);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("xlsx");
    let sheet = calamine::Reader::worksheet_range(&mut book, "提前录入").expect("the sheet");
    let cells: Vec<String> = sheet.rows().nth(1).expect("a row").iter().map(ToString::to_string).collect();
    assert!(cells.iter().any(|c| c.contains("事先写好的主题党日")) && cells.contains(&day), "{cells:?}");

    let (status, page) = app.get(&token, &format!("/villages/v1?year={next}")).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains("提前录入 1 次") && page.contains("提前录入 · 早"), "{page}");
}
backends!(a_record_dated_ahead_is_kept_and_shown_as_early, dated_ahead);

/// The `zhibu` program's store of `user`, logged in and synced.
fn logged_in(app: &TestApp, user: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let (code, out, err) = zhibu(dir.path(), &["login", "--server", &app.url, "--user", user, "--password", PASSWORD]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(dir.path(), &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    dir
}

/// The v1 row of a report's CSV, by column name.
async fn csv_cells(app: &TestApp, token: &str, query: &str) -> std::collections::HashMap<String, String> {
    let (status, csv) = app.get(token, &format!("/v1/townships/t1/report.csv?{query}")).await;
    assert_eq!(status, 200);
    let mut csv = csv::Reader::from_reader(&csv[3..]);
    let header: Vec<String> = csv.headers().expect("header").iter().map(str::to_owned).collect();
    let row = csv.records().map(|r| r.expect("row")).find(|r| &r[0] == "v1").expect("v1's row");
    header.into_iter().zip(row.iter().map(str::to_owned)).collect()
}

/// v1 in the township's JSON report.
async fn v1_report(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, body) = app.get(token, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1").clone()
}

/// A meeting that leaves due members out of its attendance spares them an absence's points,
/// and one whose attendance changes after it synced can hide an absence: the program warns of
/// the first, and the township sees both (DOMAIN.md) in the report, its CSV and workbook, the
/// dashboard and the village's page. Rows made by an older version are made again when the
/// server starts, and keep what the server saw.
async fn unmarked_and_edited(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = logged_in(&app, "cadre1");
    let d = dir.path();
    let due = app.records("v1").await.members.len();
    let held = app.year.first_day().add_days(70).expect("day").to_string();
    let args = [
        "--json",
        "meeting",
        "record",
        "--kind",
        "theme_day",
        "--date",
        &held,
        "--topic",
        "只记了两人",
        "--present",
        "v1-m01,v1-m02",
    ];
    let (code, out, err) = zhibu(d, &args);
    assert_eq!(code, 0, "kept: {out}{err}");
    assert!(err.contains(&format!("应到的 {} 名党员没有记考勤", due - 2)) && err.contains("未记考勤"), "{err}");
    let recorded: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(recorded["unmarked"].as_array().map(Vec::len), Some(due - 2), "{recorded}");
    let meeting = recorded["id"].as_str().expect("id").to_owned();
    // --all-present with its exceptions leaves nobody out, and says nothing.
    let args = [
        "--json",
        "meeting",
        "record",
        "--kind",
        "party_lesson",
        "--date",
        &held,
        "--topic",
        "党课",
        "--all-present",
        "--absent",
        "v1-m03",
    ];
    let (code, out, err) = zhibu(d, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("没有记考勤"), "{err}");
    let lesson: serde_json::Value = serde_json::from_str(&out).expect("json");
    let lesson = lesson["id"].as_str().expect("id").to_owned();
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");

    let staff = app.token("staff1").await;
    let v1 = v1_report(&app, &staff).await;
    let unmarked = v1["unmarked_attendance"].as_array().expect("unmarked");
    assert_eq!(unmarked.len(), 1, "{v1}");
    assert_eq!(
        (unmarked[0]["id"].as_str(), unmarked[0]["dated"].as_str()),
        (Some(meeting.as_str()), Some(held.as_str()))
    );
    assert_eq!(unmarked[0]["unmarked"], (due - 2) as i64);
    assert!(unmarked[0]["what"].as_str().is_some_and(|w| w.contains("只记了两人")), "{unmarked:?}");
    assert_eq!(v1["unmarked_in_period"], 1);
    assert_eq!(v1["edited_after_sync"].as_array().map(Vec::len), Some(0), "nothing changed after it synced");

    // Marked absent after it synced: one fewer left out, and a change the township sees. A
    // make-up day is no such change.
    let (code, out, err) = zhibu(d, &["attend", &meeting, "v1-m03", "缺席"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let v1 = v1_report(&app, &staff).await;
    assert_eq!(v1["unmarked_attendance"][0]["unmarked"], (due - 3) as i64);
    let edited = v1["edited_after_sync"].as_array().expect("edited");
    assert_eq!(edited.len(), 1, "{v1}");
    assert_eq!(edited[0]["id"].as_str(), Some(meeting.as_str()));
    let first_edited_at = edited[0]["first_edited_at"].as_str().expect("when").to_owned();
    assert_eq!(v1["edited_in_period"], 1);
    // A corrected topic or resolutions is no such change.
    let (code, out, err) = zhibu(d, &["meeting", "edit", &lesson, "--topic", "党课：学习党章", "--resolutions", "无"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已更正会议"), "{out}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(v1_report(&app, &staff).await["edited_in_period"], 1);

    let cells = csv_cells(&app, &staff, &format!("year={}", app.year)).await;
    assert_eq!((cells["未记考勤的会议"].as_str(), cells["同步后改动的会议"].as_str()), ("1", "1"), "{cells:?}");
    let (status, xlsx) = app.get(&staff, &format!("/v1/townships/t1/report.xlsx?year={}", app.year)).await;
    assert_eq!(status, 200);
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("xlsx");
    for name in ["未记考勤", "同步后改动"] {
        let sheet = calamine::Reader::worksheet_range(&mut book, name).expect("the sheet");
        let cells: Vec<String> = sheet.rows().nth(1).expect("a row").iter().map(ToString::to_string).collect();
        assert!(cells.iter().any(|c| c.contains("只记了两人")) && cells.contains(&held), "{name}: {cells:?}");
    }
    let (status, page) = app.get(&staff, &format!("/township?year={}&period=year", app.year)).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    let v1_row = page.split("<tr data-village=\"v1\"").nth(1).expect("v1's row");
    let v1_row = &v1_row[..v1_row.find("</tr>").expect("row end")];
    assert!(v1_row.contains("data-field=\"unmarked\">1<") && v1_row.contains("data-field=\"edited\">1<"), "{v1_row}");
    assert!(page.contains("1 次会议有应到党员未记考勤") && page.contains("1 次会议同步后改过日期或考勤"), "{page}");
    let (status, page) = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains(&format!("未记考勤 {} 人", due - 3)) && page.contains(">同步后改动<"), "{page}");
    assert!(page.contains("未记考勤 1 次") && page.contains("同步后改动 1 次"), "{page}");

    // The rows as an older version left them (no such columns, another format): the server
    // makes them again when it starts, and what it saw of the edit is kept.
    let pool = &app.state.db.pool;
    sqlx::query("UPDATE p_meetings SET unmarked = 0, edited_at = NULL").execute(pool).await.expect("old rows");
    sqlx::query("UPDATE documents SET projected_catalog = 'older'").execute(pool).await.expect("old digest");
    assert_eq!(v1_report(&app, &staff).await["unmarked_attendance"].as_array().map(Vec::len), Some(0));
    let done = zhibu_server::push::catch_up(&app.state).await.expect("caught up");
    assert!(done.documents >= 1 && done.skipped.is_empty(), "{done:?}");
    let v1 = v1_report(&app, &staff).await;
    assert_eq!(v1["unmarked_attendance"][0]["unmarked"], (due - 3) as i64, "{v1}");
    assert_eq!(v1["edited_after_sync"][0]["first_edited_at"].as_str(), Some(first_edited_at.as_str()));
    let again = zhibu_server::push::catch_up(&app.state).await.expect("caught up");
    assert_eq!(again.documents, 0, "nothing left to make again");

    // A date corrected after it synced is such a change.
    let moved = app.year.first_day().add_days(71).expect("day").to_string();
    let (code, out, err) = zhibu(d, &["meeting", "edit", &lesson, "--date", &moved]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("同步后改动"), "{out}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let v1 = v1_report(&app, &staff).await;
    let edited: Vec<&str> =
        v1["edited_after_sync"].as_array().expect("edited").iter().filter_map(|e| e["id"].as_str()).collect();
    assert!(edited.contains(&lesson.as_str()) && edited.len() == 2, "{v1}");
}
backends!(a_meeting_leaving_members_out_or_changed_after_sync_is_shown, unmarked_and_edited);

/// January: the new year's roster is empty until the township imports it. The dashboard says so,
/// the program says how to start it, and `zhibu roster carry-over` brings last year's members
/// over with their ids, which the server accepts.
async fn new_year(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = logged_in(&app, "cadre1");
    let d = dir.path();
    let next = (i64::from(app.year) + 1).to_string();
    let day = format!("{next}-01-08");
    let theme =
        ["--year", &next, "meeting", "record", "--kind", "theme_day", "--date", &day, "--topic", "新年主题党日"];
    let (code, out, err) = zhibu(d, &[&theme[..], &["--present", "v1-m01"]].concat());
    assert_ne!(code, 0, "{out}");
    assert!(err.contains(&format!("{next} 年的名册还是空的")) && err.contains("zhibu roster carry-over"), "{err}");
    // A meeting written down without names makes the year's document, with no roster.
    let (code, out, err) = zhibu(d, &theme);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["--year", &next, "sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let staff = app.token("staff1").await;
    let dashboard = format!("/township?year={next}&period=year");
    let (status, page) = app.get(&staff, &dashboard).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).expect("utf-8").contains("名册为空"), "flagged");

    let last_year = app.records("v1").await.members;
    let (code, out, err) = zhibu(d, &["--year", &next, "roster", "carry-over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("带入 {} 名党员", last_year.len())), "{out}");
    assert!(out.contains(&format!("现在还是 {} 年", app.year)), "carried in December: {out}");
    // A change of this year's roster after that does not follow: said so.
    let (code, out, err) = zhibu(d, &["roster", "committee", "v1-m05", "是"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("{next} 年的名册里也有此人（已带入）")), "{err}");
    let (code, _, err) = zhibu(d, &["--year", &next, "roster", "carry-over"]);
    assert_ne!(code, 0, "not twice");
    assert!(err.contains("名册已有"), "{err}");
    let (code, out, err) = zhibu(d, &["--year", &next, "sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let year = zhibu_schema::Year::new(i64::from(app.year) + 1).expect("year");
    let key = zhibu_server::db::documents::DocKey {
        township: "t1".into(),
        village: zhibu_schema::VillageId::parse("v1").expect("id"),
        year,
    };
    let stored = app.state.db.load_doc(&key).await.expect("loads");
    let carried = zhibu_schema::mapping::read(&stored.doc).expect("reads").doc.members;
    assert_eq!(carried.keys().collect::<Vec<_>>(), last_year.keys().collect::<Vec<_>>(), "the same ids");
    let (status, page) = app.get(&staff, &dashboard).await;
    assert_eq!(status, 200);
    assert!(!String::from_utf8(page).expect("utf-8").contains("名册为空"), "no longer flagged");
}
backends!(a_new_year_starts_from_last_years_roster, new_year);

/// December: the township has imported next year's roster. `zhibu --year` of that year fetches
/// it, and a cadre about to carry last year's over gets the township's instead of a second
/// roster the server would refuse as a duplicate.
async fn imported_next_year(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let next = (i64::from(app.year) + 1).to_string();
    let file = app.db.dir.path().join("roster.csv");
    std::fs::write(&file, "姓名,正式/预备\n王建国,正式\n李秀英,预备\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu-server-under-test"))
        .args(["--database-url", &app.db.url, "admin", "import-roster", "v1", file.to_str().expect("path")])
        .args(["--year", &next])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = logged_in(&app, "cadre1");
    let (code, out, err) = zhibu(first.path(), &["--year", &next, "sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(first.path(), &["--year", &next, "roster", "list"]);
    assert!(code == 0 && out.contains("李秀英"), "{out}{err}");
    let second = logged_in(&app, "cadre2");
    let (code, out, err) = zhibu(second.path(), &["--year", &next, "roster", "carry-over"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("服务器上已有乡镇导入的 {next} 年名册（2 人）")), "{out}");
    let (code, out, err) = zhibu(second.path(), &["--year", &next, "roster", "list"]);
    assert!(code == 0 && out.contains("王建国") && out.contains("（2 人）"), "{out}{err}");
}
backends!(next_years_roster_imported_by_the_township_is_fetched_not_carried_over, imported_next_year);

/// A branch of eleven full members whose roster marks nobody on the committee still owes the
/// committee's monthly meetings, and the township is told to mark the committee.
async fn committee_unmarked(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = logged_in(&app, "cadre1");
    let d = dir.path();
    let staff = app.token("staff1").await;
    let owed = |v1: &serde_json::Value| {
        v1["summary"].as_array().expect("summary").iter().any(|s| s["kind"] == "branch_committee")
    };
    let v1 = v1_report(&app, &staff).await;
    let marked = v1["committee_members"].as_i64().expect("committee members");
    assert!(marked > 0 && owed(&v1), "{v1}");
    let seats: Vec<String> =
        app.records("v1").await.members.iter().filter(|(_, m)| m.committee).map(|(id, _)| id.to_string()).collect();
    for id in &seats {
        let (code, out, err) = zhibu(d, &["roster", "committee", id, "否"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let v1 = v1_report(&app, &staff).await;
    assert_eq!(v1["committee_members"], 0);
    assert!(owed(&v1), "still owed: {v1}");
    let (status, page) = app.get(&staff, &format!("/township?year={}&period=year", app.year)).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8(page).expect("utf-8").contains("名册未标出支委"));
}
backends!(a_roster_without_its_committee_still_owes_committee_meetings, committee_unmarked);

/// Two cadres of a village take turns on one phone (a handover, a shared office phone). While
/// the first cadre's edits wait to sync, the second is turned away with why, and nothing is
/// lost; once they have synced, the second logs in, gets an actor of its own, and its edits
/// sync under its own account.
async fn one_phone_two_cadres(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let c = Cadre::login(&app, "cadre1").await;
    c.synced().await;
    let first = c.phone.award_points(&points(1, "volunteer", 2, &app)).expect("cadre1 awards");
    zhibu_client::logout(&c.phone).await.expect("logout");

    let err = zhibu_client::login(&c.phone, &app.url, "cadre2", PASSWORD).await.expect_err("turned away");
    assert!(err.to_string().contains("账号「cadre1」未同步的 1 条修改"), "{err}");
    assert!(c.phone.session().is_none(), "no login kept");
    assert_eq!(c.phone.pending_edits(), 1, "the first cadre's edit is kept");

    zhibu_client::login(&c.phone, &app.url, "cadre1", PASSWORD).await.expect("cadre1 again");
    c.synced().await;
    zhibu_client::logout(&c.phone).await.expect("logout");
    let actor_before = c.phone.device().actor;
    zhibu_client::login(&c.phone, &app.url, "cadre2", PASSWORD).await.expect("cadre2 now");
    assert_ne!(c.phone.device().actor, actor_before, "an actor of its own");
    let second = c.phone.award_points(&points(2, "volunteer", 3, &app)).expect("cadre2 awards");
    c.synced().await;

    let server = app.records("v1").await;
    assert!(server.points.contains_key(&first) && server.points.contains_key(&second), "both synced");
    assert_eq!(c.phone.records(app.year).expect("records"), server);
    // And back: the first cadre on the phone again, nothing waiting, syncs as before.
    zhibu_client::logout(&c.phone).await.expect("logout");
    zhibu_client::login(&c.phone, &app.url, "cadre1", PASSWORD).await.expect("cadre1 back");
    c.phone.award_points(&points(3, "volunteer", 1, &app)).expect("cadre1 awards again");
    c.synced().await;
}
backends!(one_phone_two_cadres_in_turn, one_phone_two_cadres);

/// Writes garbage over the start of every file of `year`'s document in the store `dir`, as a
/// failing flash chip may.
fn damage(dir: &std::path::Path, year: zhibu_schema::Year) -> Vec<String> {
    let mut damaged = Vec::new();
    for ext in ["snap", "log"] {
        let path = dir.join(format!("v1.{year}.{ext}"));
        if let Ok(mut bytes) = std::fs::read(&path) {
            bytes[..8].copy_from_slice(b"garbage!");
            std::fs::write(&path, bytes).expect("write");
            damaged.push(format!("v1.{year}.{ext}"));
        }
    }
    assert!(!damaged.is_empty(), "the document has files");
    damaged
}

/// One year's files damaged on the phone hold up nothing else: the phone opens, says which
/// year is damaged and how to recover, syncs the other years, refuses to read or edit the
/// damaged one, and `zhibu rebuild` for that year takes the server's document plus the local
/// edits that still read from the damaged files, and moves those files aside as they are.
async fn damaged_year(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (code, out, err) = zhibu(d, &["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m01", "volunteer", "2", "--note", "已同步的积分"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    // A case of last year, waiting to sync, then this year's files damaged.
    let last_year = zhibu_schema::Year::new(i64::from(app.year.get()) - 1).expect("year");
    let opened = format!("{last_year}-12-01");
    let (code, out, err) = zhibu(d, &["case", "open", "homestead", "王家宅基地", "--date", &opened]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m03", "volunteer", "1", "--note", "未同步的积分"]);
    assert_eq!(code, 0, "{out}{err}");
    damage(d, app.year);

    let (code, out, err) = zhibu(d, &["status"]);
    assert_eq!(code, 0, "the phone opens: {out}{err}");
    let rebuild = format!("zhibu --year {} rebuild", app.year);
    assert!(out.contains("本地记录文件已损坏") && out.contains(&rebuild), "{out}");
    let (code, out, err) = zhibu(d, &["score", "v1-m01"]);
    assert_eq!(code, 7, "this year cannot be read: {out}{err}");
    assert!(err.contains(&rebuild), "{err}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m02", "volunteer", "1"]);
    assert_eq!(code, 7, "nor edited: {out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 7, "{out}{err}");
    assert!(err.contains(&rebuild), "{err}");
    assert!(out.contains(&format!("v1 {} 年的文件已损坏，其中的修改未计入", app.year)), "{out}");
    // Its edits are not counted, so another cadre may not take the phone over: the edits found
    // again are kept only under the account that made them.
    let (code, out, err) = zhibu(d, &["logout"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("换别的账号登录之前"), "{out}");
    let (code, out, err) = zhibu(d, &["login", "--server", &app.url, "--user", "cadre2", "--password", PASSWORD]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("可能有账号「cadre1」未同步的修改") && err.contains(&rebuild), "{err}");
    assert!(err.contains("--set-aside-damaged"), "and the way out when cadre1 cannot log in: {err}");
    let (code, out, err) = zhibu(d, &["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD]);
    assert_eq!(code, 0, "{out}{err}");
    let key = zhibu_server::db::documents::DocKey { year: last_year, ..app.doc_key("v1") };
    let server = app.state.db.load_doc(&key).await.expect("load");
    let records = zhibu_schema::mapping::read(&server.doc).expect("reads").doc;
    assert!(records.cases.values().any(|c| c.title.as_str() == "王家宅基地"), "last year's case synced");

    let (code, out, err) = zhibu(d, &["--year", &app.year.to_string(), "rebuild"]);
    assert_eq!(code, 0, "{out}{err}");
    // The damage is in the files' headers: every record behind them checks out, and the edit
    // that had not synced is found again.
    assert!(out.contains("保留 1 条本地修改，舍弃 0 条") && out.contains("文件已原样移到"), "{out}");
    let aside: Vec<_> = std::fs::read_dir(d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("v1.{}.damaged-", app.year)))
        .collect();
    assert_eq!(aside.len(), 1, "one folder of damaged files");
    let kept: Vec<_> = std::fs::read_dir(aside[0].path()).expect("aside").filter_map(|e| e.ok()).collect();
    assert!(kept.iter().any(|f| std::fs::read(f.path()).expect("read").starts_with(b"garbage!")), "kept as they were");
    let (code, out, err) = zhibu(d, &["--json", "score", "v1-m01"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已同步的积分"), "the server's records are back: {out}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m02", "volunteer", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let notes = app.point_notes("v1").await;
    assert!(notes.iter().any(|n| n == "未同步的积分"), "the edit found again reached the server: {notes:?}");
}
backends!(a_damaged_year_holds_up_nothing_else, damaged_year);

/// A phone handed over while one of its years is damaged, and the cadre whose edits it may hold
/// cannot log in any more (transferred, account revoked): the next cadre sets the damaged files
/// aside, as they are, logs in, and gets that year from the server.
async fn handed_over_damaged(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let login = |user: &str, extra: &[&str]| {
        let mut args = vec!["login", "--server", &app.url, "--user", user, "--password", PASSWORD];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| zhibu(d, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out, err) = run(login("cadre1", &[]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m01", "volunteer", "2", "--note", "已同步的积分"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
    damage(d, app.year);
    let (code, out, err) = zhibu(d, &["logout"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(login("cadre2", &[]));
    assert_ne!(code, 0, "turned away: {err}");

    let (code, out, err) = run(login("cadre2", &["--set-aside-damaged"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("损坏文件已原样移到"), "{err}");
    let aside = std::fs::read_dir(d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with(&format!("v1.{}.damaged-", app.year)))
        .expect("the damaged files were set aside");
    let kept: Vec<_> = std::fs::read_dir(aside.path()).expect("aside").filter_map(|e| e.ok()).collect();
    assert!(kept.iter().any(|f| std::fs::read(f.path()).expect("read").starts_with(b"garbage!")), "as they were");
    // Logging in fetched the year from the server: it reads and takes edits again.
    let (code, out, err) = zhibu(d, &["--json", "score", "v1-m01"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("已同步的积分"), "{out}");
    let (code, out, err) = zhibu(d, &["points", "award", "v1-m02", "volunteer", "1"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = zhibu(d, &["sync"]);
    assert_eq!(code, 0, "{out}{err}");
}
backends!(a_damaged_year_of_a_cadre_gone_is_set_aside_by_the_next, handed_over_damaged);

/// Damage in the middle of a year's log with an edit not yet synced after it: the year is
/// reported damaged, not shown without that edit, and the rebuild finds the edit again (the
/// damaged record's changes come back from the server) and sends it. Both kinds of damage: to a
/// record's length, which hides every record after it, and to a record's content, which is
/// stepped over while the records after it build on it. A rebuild that cannot write its new
/// files (here a folder stands where the new snapshot is first written, as a full disk would
/// refuse it) puts the damaged files back, and the year stays damaged for the next rebuild.
async fn damaged_mid_log(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let rebuild = ["--year".to_owned(), app.year.to_string(), "rebuild".to_owned()];
    let rebuild: Vec<&str> = rebuild.iter().map(String::as_str).collect();
    for (what, at) in [("length", 0usize), ("content", 8)] {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        let run = |args: &[&str]| {
            let (code, out, err) = zhibu(d, args);
            assert_eq!(code, 0, "{what}: {args:?}: {out}{err}");
            out
        };
        run(&["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD]);
        run(&["points", "award", "v1-m01", "volunteer", "1", "--note", &format!("已同步-{what}")]);
        run(&["sync"]);
        let log = d.join(format!("v1.{}.log", app.year));
        // The log's header is 24 bytes; every record in it now is on the server too.
        let synced = std::fs::read(&log).expect("log");
        assert!(synced.len() > 24 + 8, "{what}: the log holds a synced record");
        let unsynced = format!("未同步-{what}");
        run(&["points", "award", "v1-m03", "volunteer", "1", "--note", &unsynced]);
        let mut bytes = std::fs::read(&log).expect("log");
        bytes[24 + at] ^= 0x40;
        std::fs::write(&log, &bytes).expect("damage");

        let out = run(&["status"]);
        assert!(out.contains("本地记录文件已损坏") && out.contains("rebuild"), "{what}: {out}");
        let (code, out, err) = zhibu(d, &["score", "v1-m03"]);
        assert_eq!(code, 7, "{what}: not shown without the edit: {out}{err}");

        if what == "length" {
            let in_the_way = d.join(format!(".v1.{}.snap.tmp", app.year));
            std::fs::create_dir(&in_the_way).expect("dir");
            let (code, out, err) = zhibu(d, &rebuild);
            assert_ne!(code, 0, "the rebuild could not write: {out}{err}");
            assert_eq!(std::fs::read(&log).expect("log is back"), bytes, "the damaged log is back as it was");
            let out = run(&["status"]);
            assert!(out.contains("本地记录文件已损坏"), "still damaged: {out}");
            std::fs::remove_dir(&in_the_way).expect("dir");
        }
        let out = run(&rebuild);
        assert!(out.contains("保留 1 条本地修改"), "{what}: {out}");
        run(&["sync"]);
        let notes = app.point_notes("v1").await;
        assert!(notes.contains(&unsynced), "{what}: the edit found again reached the server: {notes:?}");
    }
}
backends!(damage_mid_log_is_reported_and_rebuilt, damaged_mid_log);

/// A cadre locked out by too many wrong passwords is told so, and when to try again, not to
/// check the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_out_login_says_when_to_try_again() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let dir = tempfile::tempdir().expect("dir");
    for _ in 0..5 {
        let (code, _, err) =
            zhibu(dir.path(), &["login", "--server", &app.url, "--user", "cadre1", "--password", "wrong"]);
        assert_eq!(code, 6, "{err}");
    }
    let (code, _, err) =
        zhibu(dir.path(), &["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("登录失败次数过多") && err.contains("分钟后再试"), "{err}");
    assert!(!err.contains("检查网络") && !err.contains("服务器忙"), "the server is not busy: {err}");
}
