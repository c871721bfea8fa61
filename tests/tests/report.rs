//! What the phones logged shows in the township report: a village behind on committee
//! meetings, an assembly without quorum, a case missing its notice, a meeting logged 30 days
//! after it was held flagged 补录; members see exactly their own points.

use serde_json::json;
use zhibu_schema::mapping;
use zhibu_schema::{
    AccountId, Attendance, Case, Code, Collection, Date, Line, Meeting, MeetingKind, MemberStatus, Name, PointDelta,
    PointEntry, RecordId, Step,
};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

fn line(s: &str) -> Line {
    Line::parse(s).expect("line")
}

/// A day in the fixture's year, `days_ago` before today when possible.
fn day(app: &TestApp, days_ago: i64) -> Date {
    let d = zhibu_server::api::today().add_days(-days_ago).expect("date");
    d.clamp(app.year.first_day(), app.year.last_day())
}

/// cadre1's phone of v1, synced once, and the ids of the roster it fetched.
async fn cadre_phone(app: &TestApp) -> (RawPhone, Vec<zhibu_schema::MemberId>) {
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(app, &token, "phone-a", "v1");
    phone.sync(app).await.expect("first sync");
    let members = mapping::read(&phone.doc).expect("reads").doc.members.keys().cloned().collect();
    (phone, members)
}

/// A meeting at which every one of `members` was present.
fn all_there(kind: MeetingKind, on: Date, topic: &str, members: &[zhibu_schema::MemberId]) -> Meeting {
    let mut m = Meeting::new(kind, on, line(topic));
    m.attendance = members.iter().map(|id| (id.clone(), Attendance::present())).collect();
    m
}

async fn township_report(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let roster = mapping::read(&phone.doc).expect("reads").doc.members;
    let members: Vec<_> = roster.keys().cloned().collect();

    // An assembly where only three of the eleven full members came.
    let assembly_id = RecordId::new_v7();
    let mut assembly = Meeting::new(MeetingKind::BranchAssembly, day(&app, 3), line("审议年度计划"));
    for (i, m) in members.iter().enumerate() {
        assembly.attendance.insert(m.clone(), if i < 3 { Attendance::present() } else { Attendance::absent() });
    }
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &assembly_id, &assembly));
    // A theme day held 30 days ago, entered only now.
    let late_id = RecordId::new_v7();
    let held = zhibu_server::api::today().add_days(-30).expect("date");
    let mut theme = Meeting::new(MeetingKind::ThemeDay, held, line("主题党日：义务植树"));
    for m in &members {
        theme.attendance.insert(m.clone(), Attendance::present());
    }
    // A closed homestead case without its public notice.
    let case_id = RecordId::new_v7();
    let opened = day(&app, 20);
    let mut case = Case::new(Code::parse("homestead").expect("code"), line("张家宅基地申请"), opened);
    case.applicant = Some(Name::parse("张志强").expect("name"));
    let cadre = AccountId::parse("cadre1").expect("id");
    for s in ["application", "qualification_review", "notice", "report_to_township"] {
        case.steps.insert(Code::parse(s).expect("code"), Step::new(opened, cadre.clone(), None));
    }
    case.closed_on = Some(opened);
    phone.edit("开始办理事项", |tx| mapping::put_record_id(tx, Collection::Cases, &case_id, &case));
    let late_in_year = app.year.contains(held);
    if late_in_year {
        phone.edit("补录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &late_id, &theme));
    }
    phone.sync(&app).await.expect("push");

    let staff = app.token("staff1").await;
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");

    let committee =
        v1["summary"].as_array().expect("summary").iter().find(|s| s["kind"] == "branch_committee").expect("row");
    if zhibu_server::api::today().month() > 1 {
        assert_eq!(committee["behind"], true, "no committee meeting in months that have ended: {committee}");
    }
    let quorum: Vec<_> = v1["summary"]
        .as_array()
        .expect("s")
        .iter()
        .flat_map(|s| s["quorum_failures"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(quorum.contains(&serde_json::json!(assembly_id.to_string())), "assembly without quorum listed: {quorum:?}");

    let cases = v1["cases"].as_array().expect("cases");
    let c = cases.iter().find(|c| c["case_id"] == case_id.to_string()).expect("the case has gaps");
    let gaps: Vec<&str> =
        c["gaps"].as_array().expect("gaps").iter().map(|g| g["message"].as_str().expect("message")).collect();
    assert!(gaps.contains(&"缺少公示记录（公示的起止日期）"), "{gaps:?}");
    // The 公示 step given its period (three days, where seven are required) and place: the
    // server reads it, the report and the village page show it.
    let mut notice = case.steps[&Code::parse("notice").expect("code")].clone();
    notice.until = opened.add_days(2);
    notice.place = Some(Name::parse("村务公开栏").expect("name"));
    let path = ["cases", case_id.as_str(), "steps", "notice"];
    phone.edit("记录公示", |tx| mapping::put_at(tx, &path, &notice));
    phone.sync(&app).await.expect("push");
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let again: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1_again =
        again["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let c = v1_again["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["case_id"] == case_id.to_string())
        .expect("case");
    let gaps: Vec<&str> =
        c["gaps"].as_array().expect("gaps").iter().map(|g| g["message"].as_str().expect("message")).collect();
    assert_eq!(gaps, ["「公示」只公示了 3 天，应不少于 7 天"]);
    assert_eq!(c["gaps"][0]["step"], "notice");
    let (status, page) = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page).expect("utf-8");
    let until = opened.add_days(2).expect("day");
    assert!(page.contains(&format!("公示至 {until}（3 天，村务公开栏）")), "{page}");

    if late_in_year {
        let late = v1["late_entries"].as_array().expect("late");
        let entry = late.iter().find(|l| l["id"] == late_id.to_string()).expect("late meeting flagged");
        assert_eq!(entry["days_late"], 30);
        assert_eq!(entry["record"], "meeting");
        assert_eq!(v1["late_in_period"], late.len(), "the year holds them all");
        // A period counts the late entries dated in it, in the JSON, the CSV and the pages alike.
        let other_month = if held.month() == 1 { 2 } else { 1 };
        for month in [held.month(), other_month] {
            let dated_in = |l: &&serde_json::Value| {
                Date::parse(l["dated"].as_str().expect("dated")).expect("date").month() == month
            };
            let count = late.iter().filter(dated_in).count();
            assert!(month != held.month() || count >= 1);
            let (status, csv) =
                app.get(&staff, &format!("/v1/townships/t1/report.csv?year={}&period={month}", app.year)).await;
            assert_eq!(status, 200);
            let mut csv = csv::Reader::from_reader(&csv[3..]);
            let late_col = csv.headers().expect("header").iter().position(|h| h == "补录条数").expect("column");
            let row = csv.records().map(|r| r.expect("row")).find(|r| &r[0] == "v1").expect("v1");
            assert_eq!(row[late_col], count.to_string(), "month {month}");
        }
    }
    // The other village logged nothing and is behind too, but has no late entries or cases.
    let v2 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v2").expect("v2");
    assert_eq!(v2["late_entries"].as_array().map(Vec::len), Some(0));
    assert_eq!(v2["last_sync_at"], serde_json::Value::Null);
    assert!(v1["last_sync_at"].is_string());

    // The exports: CSV with a byte-order mark, XLSX that is a zip.
    let (status, csv) = app.get(&staff, &format!("/v1/townships/t1/report.csv?year={}", app.year)).await;
    assert_eq!(status, 200);
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM so Excel shows Chinese");
    let text = String::from_utf8(csv[3..].to_vec()).expect("utf-8");
    assert!(text.lines().next().expect("header").starts_with("村,村名,支部党员大会"), "{text}");
    assert_eq!(text.lines().count(), 3, "header and two villages");
    let (status, xlsx) = app.get(&staff, &format!("/v1/townships/t1/report.xlsx?year={}&period=q1", app.year)).await;
    assert_eq!(status, 200);
    assert!(xlsx.starts_with(b"PK"), "an XLSX file is a zip");
    // The sheets of the year's lists hold the chosen period's entries, as the summary counts
    // them: the theme day entered late is on its quarter's 补录 sheet, not another's.
    if late_in_year {
        let late_sheet = |q: u8| {
            let (app, staff) = (&app, &staff);
            async move {
                let url = format!("/v1/townships/t1/report.xlsx?year={}&period=q{q}", app.year);
                let (status, bytes) = app.get(staff, &url).await;
                assert_eq!(status, 200);
                let mut book: calamine::Xlsx<_> =
                    calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("XLSX");
                let range = calamine::Reader::worksheet_range(&mut book, "补录").expect("sheet");
                range
                    .rows()
                    .map(|r| r.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
                    .collect::<Vec<_>>()
            }
        };
        let own = held.quarter();
        assert!(late_sheet(own).await.iter().any(|r| r.contains("义务植树")));
        let other = if own == 1 { 2 } else { 1 };
        assert!(!late_sheet(other).await.iter().any(|r| r.contains("义务植树")));
    }
    let (status, _) = app.get(&staff, &format!("/v1/townships/t1/report?year={}&period=q9", app.year)).await;
    assert_eq!(status, 400);
    // The period as the report names it, its year in front, is taken back.
    let (status, named) = app.get(&staff, &format!("/v1/townships/t1/report?period={}-q1", app.year)).await;
    assert_eq!(status, 200);
    let named: serde_json::Value = serde_json::from_slice(&named).expect("json");
    assert_eq!(named["period"], format!("{}-q1", app.year));
    let other = i64::from(app.year.get()) - 1;
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}&period={other}-q1", app.year)).await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert!(body["error"]["message"].as_str().expect("message").contains("不一致"), "{body}");
}
backends!(the_report_shows_what_the_phones_logged, township_report);

/// A case opened last year and never closed is still open: last year's report counts its days
/// open to today, and flags it overdue once the township's deadline (90 days) has passed, as it
/// would have had the year not ended. Opened 90 days before the year ended, it was not yet
/// overdue at the year's end: only counting to today makes it so (from the year's second day).
async fn open_from_last_year(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let last = zhibu_schema::Year::new(i64::from(app.year.get()) - 1).expect("year");
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::from_nothing(&app, &token, "phone-a", "v1", last);
    phone.sync(&app).await.expect("first sync");
    let case_id = RecordId::new_v7();
    let opened = app.year.first_day().add_days(-90).expect("date");
    let case = Case::new(Code::parse("homestead").expect("code"), line("秋天立项的宅基地申请"), opened);
    phone.edit("开始办理事项", |tx| mapping::put_record_id(tx, Collection::Cases, &case_id, &case));
    phone.sync(&app).await.expect("push");

    let staff = app.token("staff1").await;
    let before = opened.days_until(zhibu_server::api::today());
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={last}")).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let listed = v1["cases"].as_array().expect("cases").iter().find(|c| c["case_id"] == case_id.to_string());
    if before > 90 {
        let c = listed.expect("the open case is listed");
        let overdue = c["gaps"].as_array().expect("gaps").iter().find(|g| g["gap"] == "overdue").expect("overdue");
        // Counted to today (China time; the day may turn while the test runs).
        let days = overdue["days_open"].as_i64().expect("days");
        assert!(days == before || days == before + 1, "{c}");
    } else {
        assert!(listed.is_none(), "on the year's first day, 90 days open is not yet past the deadline: {v1}");
    }

    // This year's report lists it too, as last year's record (its steps go on there), and the
    // village's page of this year links to it; a case of last year closed then is in neither.
    let closed_id = RecordId::new_v7();
    let mut closed = Case::new(Code::parse("certificate").expect("code"), line("已办结的证明"), opened);
    closed.closed_on = Some(opened.add_days(3).expect("date"));
    phone.edit("办结事项", |tx| mapping::put_record_id(tx, Collection::Cases, &closed_id, &closed));
    phone.sync(&app).await.expect("push");
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let cases = v1["cases"].as_array().expect("cases");
    assert!(!cases.iter().any(|c| c["case_id"] == closed_id.to_string()), "{v1}");
    let listed = cases.iter().find(|c| c["case_id"] == case_id.to_string());
    if before > 90 {
        let c = listed.expect("last year's open case is in this year's report");
        assert_eq!(c["year"], i64::from(last.get()), "{c}");
        assert!(c["gaps"].as_array().expect("gaps").iter().any(|g| g["gap"] == "overdue"), "{c}");
        assert_eq!(v1["cases_in_period"], 1, "{v1}");
        let xlsx = app.get(&staff, &format!("/v1/townships/t1/report.xlsx?year={}", app.year)).await.1;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("xlsx");
        let sheet = calamine::Reader::worksheet_range(&mut book, "小微权力").expect("the sheet");
        let carried = format!("未办结（{last} 年立项，跨年）");
        assert!(sheet.rows().any(|r| r.iter().any(|c| c.to_string() == carried)), "{sheet:?}");
    } else {
        assert!(listed.is_none(), "not yet past the deadline: {v1}");
    }
    let page = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await.1;
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains("往年立项、尚未办结的事项") && page.contains("秋天立项的宅基地申请"), "{page}");
    assert!(page.contains(&format!("v1?year={last}#case-{case_id}\"")), "linked to last year's page: {page}");
    assert!(!page.contains("已办结的证明"), "{page}");
}
backends!(a_case_left_open_last_year_is_counted_open_to_today, open_from_last_year);

/// A branch assembly held 30 days ago is entered only now, with the case step taken at it
/// (党员大会审议): one late entry, the meeting's, not a second for the step recorded with it. A
/// step of the same day taken at no meeting is its own late entry.
async fn step_at_a_late_meeting(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let held = zhibu_server::api::today().add_days(-30).expect("date");
    if !app.year.contains(held) {
        eprintln!("30 days ago is last year: nothing of this year can be late yet");
        return;
    }
    let (mut phone, members) = cadre_phone(&app).await;
    let meeting_id = RecordId::new_v7();
    let assembly = all_there(MeetingKind::BranchAssembly, held, "审议修建村道", &members);
    let case_id = RecordId::new_v7();
    let mut case = Case::new(Code::parse("major_decision").expect("code"), line("修建村道"), held);
    let cadre = AccountId::parse("cadre1").expect("id");
    case.steps.insert(Code::parse("proposal").expect("code"), Step::new(held, cadre.clone(), None));
    let mut review = Step::new(held, cadre, None);
    review.meeting = Some(meeting_id.clone());
    case.steps.insert(Code::parse("assembly_review").expect("code"), review);
    phone.edit("补录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &meeting_id, &assembly));
    phone.edit("补录事项", |tx| mapping::put_record_id(tx, Collection::Cases, &case_id, &case));
    phone.sync(&app).await.expect("push");
    let staff = app.token("staff1").await;
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let late: Vec<(String, String)> = v1["late_entries"]
        .as_array()
        .expect("late")
        .iter()
        .map(|l| (l["record"].as_str().expect("record").to_owned(), l["what"].as_str().expect("what").to_owned()))
        .collect();
    assert_eq!(late.len(), 2, "the meeting and the step taken at no meeting: {late:?}");
    assert_eq!(late.iter().filter(|(record, _)| record == "meeting").count(), 1, "{late:?}");
    assert!(!late.iter().any(|(_, what)| what.contains("党员大会审议")), "{late:?}");
}
backends!(a_step_taken_at_a_meeting_entered_late_is_not_a_second_late_entry, step_at_a_late_meeting);

/// One meeting recorded on two phones while offline is two meetings of one kind on one day:
/// the township is told (疑似重复录入) in the report, the dashboard and the village page, so
/// that the village voids one; voided, it is no longer listed.
async fn twins(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (mut phone, _) = cadre_phone(&app).await;
    let held = day(&app, 2);
    let ids = [RecordId::new_v7(), RecordId::new_v7()];
    for id in &ids {
        let lesson = Meeting::new(MeetingKind::PartyLesson, held, line("党课：学党史"));
        phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, id, &lesson));
    }
    phone.sync(&app).await.expect("push");
    let staff = app.token("staff1").await;
    let listed = |body: &[u8]| {
        let report: serde_json::Value = serde_json::from_slice(body).expect("json");
        let villages = report["villages"].as_array().expect("villages").clone();
        villages.into_iter().find(|v| v["village_id"] == "v1").expect("v1")["possible_duplicates"].clone()
    };
    let report = format!("/v1/townships/t1/report?year={}", app.year);
    let twins = listed(&app.get(&staff, &report).await.1);
    assert_eq!(twins.as_array().map(Vec::len), Some(1), "{twins}");
    assert_eq!(twins[0]["what"], "党课");
    assert_eq!(twins[0]["dated"], held.to_string());
    assert_eq!(twins[0]["ids"].as_array().map(Vec::len), Some(2));
    let page = app.get(&staff, &format!("/villages/v1?year={}", app.year)).await.1;
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains("疑似重复录入 1 处") && page.contains(&format!("{held} 党课记了 2 次")), "{page}");
    let dashboard = app.get(&staff, &format!("/township?township=t1&year={}", app.year)).await.1;
    assert!(String::from_utf8(dashboard).expect("utf-8").contains("1 处同一天的同类会议记了不止一次"));
    let void = serde_json::json!({"reason": "重复录入", "by": "cadre1"});
    phone.edit("作废会议", |tx| mapping::put_at(tx, &["meetings", ids[1].as_str(), "voided"], &void));
    phone.sync(&app).await.expect("push");
    assert_eq!(listed(&app.get(&staff, &report).await.1), serde_json::json!([]));
}
backends!(one_meeting_recorded_twice_is_shown_as_a_possible_duplicate, twins);

async fn member_points(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let me = zhibu_schema::MemberId::parse("v1-m01").expect("id");
    let other = zhibu_schema::MemberId::parse("v1-m02").expect("id");
    let meeting_id = RecordId::new_v7();
    let mut m = Meeting::new(MeetingKind::ThemeDay, day(&app, 1), line("主题党日"));
    m.attendance.insert(me.clone(), Attendance::absent());
    m.attendance.insert(other.clone(), Attendance::present());
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &meeting_id, &m));
    let mut away = Meeting::new(MeetingKind::PartyLesson, day(&app, 2), line("党课"));
    let reason = zhibu_schema::Prose::parse("住院").expect("reason");
    away.attendance.insert(me.clone(), Attendance::leave(reason, None));
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &RecordId::new_v7(), &away));
    let p = PointEntry {
        member_id: other.clone(),
        rule: Code::parse("honour").expect("code"),
        delta: PointDelta::new(8).expect("delta"),
        on: day(&app, 1),
        note: None,
        by: AccountId::parse("cadre1").expect("id"),
        voided: None,
    };
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &RecordId::new_v7(), &p));
    phone.sync(&app).await.expect("push");

    let token = app.token("v1-m01").await;
    let (status, body) = app.get(&token, &format!("/v1/me/points?year={}", app.year)).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["member_id"], "v1-m01");
    assert_eq!(v["base"], 100);
    assert_eq!(v["total"], 98, "an absence costs two points");
    assert_eq!(v["grade"], "excellent");
    let entries = v["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "only their own entries: {entries:?}");
    assert_eq!(entries[0]["source"], "attendance");
    assert_eq!(entries[0]["rule"], "attend_absent");
    assert_eq!(entries[0]["delta"], -2);
    // A leave moves nothing, and is listed apart with its reason.
    assert_eq!(v["leaves"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["leaves"][0]["reason"], "住院");
    assert_eq!(v["leaves"][0]["what"], "党课：党课");
    assert!(v["leaves"][0].get("approved_by").is_none(), "{v}");
    // Nothing about another member anywhere in the answer.
    assert!(!String::from_utf8_lossy(&body).contains("v1-m02"));
}
backends!(a_member_sees_exactly_their_own_points, member_points);

/// A member who left the branch during the year (转出) keeps the points earned there but is
/// graded by no one here, and is no longer in the branch's 党员人数: the report counts them apart
/// (年内离开), and they read why they have no grade.
async fn left_during_the_year(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (mut phone, members) = cadre_phone(&app).await;
    let staff = app.token("staff1").await;
    let before = v1_members(&app, &staff).await;
    assert_eq!(before["members"], members.len(), "{before}");
    let left = day(&app, 1);
    phone.edit("党员转出", |tx| mapping::put_at(tx, &["members", "v1-m02", "left_on"], &serde_json::json!(left)));
    phone.sync(&app).await.expect("push");

    let v1 = v1_members(&app, &staff).await;
    assert_eq!(v1["members"], members.len() - 1, "{v1}");
    assert_eq!(v1["members_left"], 1, "{v1}");
    assert_eq!(v1["grades"]["left"], 1, "{v1}");
    let graded = ["excellent", "good", "qualified", "unqualified"].map(|g| v1["grades"][g].as_i64().expect("count"));
    let was = ["excellent", "good", "qualified", "unqualified"].map(|g| before["grades"][g].as_i64().expect("count"));
    assert_eq!(graded.iter().sum::<i64>(), was.iter().sum::<i64>() - 1, "{v1}");
    assert_eq!(v1["grades"]["ungraded"], before["grades"]["ungraded"], "probationary members only: {v1}");
    let (status, csv) = app.get(&staff, &format!("/v1/townships/t1/report.csv?year={}", app.year)).await;
    assert_eq!(status, 200);
    let mut csv = csv::Reader::from_reader(&csv[3..]);
    let header: Vec<String> = csv.headers().expect("header").iter().map(str::to_owned).collect();
    let row = csv.records().map(|r| r.expect("row")).find(|r| &r[0] == "v1").expect("v1's row");
    let cell = |name: &str| row[header.iter().position(|h| h == name).expect(name)].to_owned();
    assert_eq!((cell("党员人数"), cell("年内离开（不评定）")), ((members.len() - 1).to_string(), "1".to_owned()));
    assert_eq!(cell("已离开人数"), "1");
    let dashboard = app.get(&staff, &format!("/township?township=t1&year={}", app.year)).await.1;
    let dashboard = String::from_utf8(dashboard).expect("utf-8");
    assert!(dashboard.contains(&format!("{} 人（另有 1 人已离开）", members.len() - 1)), "{dashboard}");
    let page = String::from_utf8(app.get(&staff, &format!("/villages/v1?year={}", app.year)).await.1).expect("utf-8");
    assert!(page.contains("年内离开（不评定）1 人") && page.contains(&format!("{left} 离开本支部</span>")), "{page}");

    let token = app.token("v1-m02").await;
    let (status, body) = app.get(&token, &format!("/v1/me/points?year={}", app.year)).await;
    assert_eq!(status, 200);
    let me: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!((me["grade"].clone(), me["left_on"].clone()), (serde_json::Value::Null, serde_json::json!(left)));
    assert_eq!(me["total"], 100, "the points stay: {me}");
    let page = String::from_utf8(app.get(&token, &format!("/me?year={}", app.year)).await.1).expect("utf-8");
    assert!(page.contains(&format!("{left} 离开本支部，本年度不在本支部评定等次")), "{page}");

    // One leaving on the year's last day, still here today (unless today is that day): in
    // 党员人数 still, not graded. The grades add up to the whole roster.
    let last_day = app.year.last_day();
    phone.edit("党员转出", |tx| {
        mapping::put_at(tx, &["members", "v1-m03", "left_on"], &serde_json::json!(last_day))
    });
    phone.sync(&app).await.expect("push");
    let v1 = v1_members(&app, &staff).await;
    let today = zhibu_server::api::today();
    let gone = if today >= last_day { 2 } else { 1 };
    assert_eq!((v1["members"].clone(), v1["members_left"].clone()), (json!(members.len() - gone), json!(gone)));
    assert_eq!(v1["grades"]["left"], 2, "{v1}");
    let all: i64 = ["excellent", "good", "qualified", "unqualified", "ungraded", "left"]
        .iter()
        .map(|g| v1["grades"][g].as_i64().expect("count"))
        .sum();
    assert_eq!(all, members.len() as i64, "{v1}");
    let page = String::from_utf8(app.get(&staff, &format!("/villages/v1?year={}", app.year)).await.1).expect("utf-8");
    let here = format!("党员 {} 名（另有 {gone} 名已离开本支部）", members.len() - gone);
    assert!(page.contains(&here), "{here}: {page}");

    // Last year's report is as of the day after it ended: a member who left on New Year's Day
    // was there all that year, graded and counted.
    let last = zhibu_schema::Year::new(i64::from(app.year.get()) - 1).expect("year");
    let mut old = RawPhone::from_nothing(&app, &app.token("cadre1").await, "phone-b", "v1", last);
    old.sync(&app).await.expect("first sync");
    let mut stayed = zhibu_schema::Member::new(zhibu_schema::Name::parse("钱一").expect("name"), MemberStatus::Full);
    stayed.left_on = Some(app.year.first_day());
    old.edit("名册", |tx| mapping::put_record(tx, Collection::Members, "v1-m01", &stayed));
    old.sync(&app).await.expect("push");
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={last}")).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    assert_eq!((v1["members"].clone(), v1["members_left"].clone()), (json!(1), json!(0)), "{v1}");
    assert_eq!((v1["grades"]["excellent"].clone(), v1["grades"]["left"].clone()), (json!(1), json!(0)), "{v1}");
}
backends!(a_member_who_left_during_the_year_is_counted_apart_and_not_graded, left_during_the_year);

/// v1's counts of members and grades in the township's report of the fixture's year.
async fn v1_members(app: &TestApp, token: &str) -> serde_json::Value {
    let (status, body) = app.get(token, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    serde_json::json!({"members": v1["members"], "members_left": v1["members_left"], "grades": v1["grades"]})
}

/// A meeting entered ahead of its day is planned, not held: the report counts it from its day
/// on (the phones' own figures too), and lists it as entered ahead (提前录入) meanwhile.
async fn ahead_of_its_day(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let Some(ahead) = zhibu_server::api::today().add_days(1).filter(|d| app.year.contains(*d)) else {
        eprintln!("today is the last day of the year: no day of it is still ahead");
        return;
    };
    let (mut phone, members) = cadre_phone(&app).await;
    let id = RecordId::new_v7();
    let theme = all_there(MeetingKind::ThemeDay, ahead, "计划中的主题党日", &members);
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &id, &theme));
    phone.sync(&app).await.expect("push");

    let staff = app.token("staff1").await;
    let month = format!("/v1/townships/t1/report?year={}&period={}", app.year, ahead.month());
    let (status, body) = app.get(&staff, &month).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let theme_day =
        v1["summary"].as_array().expect("summary").iter().find(|s| s["kind"] == "theme_day").expect("theme day");
    assert_eq!((theme_day["held"].as_i64(), theme_day["valid"].as_i64()), (Some(0), Some(0)), "{theme_day}");
    let early = v1["early_entries"].as_array().expect("early entries");
    assert!(early.iter().any(|e| e["id"] == id.to_string()), "listed as entered ahead: {early:?}");
    // The period's own row in the compliance list (which lists the periods under way) says the
    // same.
    if ahead.month() == zhibu_server::api::today().month() {
        let row = v1["compliance"]
            .as_array()
            .expect("compliance")
            .iter()
            .find(|c| c["kind"] == "theme_day" && c["period"] == format!("{}-{:02}", app.year, ahead.month()))
            .expect("the month's row");
        assert_eq!((&row["held"], &row["state"]), (&serde_json::json!(0), &serde_json::json!("pending")), "{row}");
    }
}
backends!(a_meeting_entered_ahead_of_its_day_is_not_yet_held, ahead_of_its_day);

/// A roster change that rewrites past figures, made after the server had the member, is shown
/// to the township (名册同步后改动), as a meeting changed after sync is: a committee seat (seats
/// keep no history, so every past committee meeting is counted by the new one) and a leaving
/// day set months back (the assemblies since lose a member who was due). A leaving day entered
/// in time is the roster kept, and is not.
async fn roster_edits(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let today = zhibu_server::api::today();
    let back = day(&app, 60);
    let late_enough = back < today.add_days(-7).expect("date");
    phone.edit("调整名册", |tx| {
        mapping::put_at(tx, &["members", "v1-m04", "committee"], &true)?;
        mapping::put_at(tx, &["members", "v1-m05", "left_on"], &back)?;
        mapping::put_at(tx, &["members", "v1-m06", "left_on"], &today)
    });
    phone.sync(&app).await.expect("stored");

    let staff = app.token("staff1").await;
    let (status, body) = app.get(&staff, &format!("/v1/townships/t1/report?year={}", app.year)).await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let v1 = report["villages"].as_array().expect("villages").iter().find(|v| v["village_id"] == "v1").expect("v1");
    let edited: Vec<&str> = v1["roster_edits"]
        .as_array()
        .expect("roster_edits")
        .iter()
        .map(|e| e["member_id"].as_str().expect("id"))
        .collect();
    let mut expected = vec!["v1-m04"];
    if late_enough {
        expected.push("v1-m05");
    }
    assert_eq!(edited, expected, "{v1}");
    let names = app.records("v1").await.members;
    let m04 = &names[&zhibu_schema::MemberId::parse("v1-m04").expect("id")].name;
    assert_eq!(v1["roster_edits"][0]["name"], m04.as_str());

    // The village page marks them; the dashboard names the count.
    let page = zhibu_tests::http().build().expect("client");
    let get = |path: String| page.get(format!("{}{path}", app.url)).bearer_auth(&staff).send();
    let body = get(format!("/villages/v1?year={}", app.year)).await.expect("page").text().await.expect("body");
    assert_eq!(body.matches("同步后改动 ").count(), expected.len(), "{body}");
    let body = get(format!("/township?year={}&period=year", app.year)).await.expect("page").text().await.expect("body");
    assert!(body.contains(&format!("名册在同步后改动 {} 人", expected.len())), "{body}");
}
backends!(a_roster_change_that_rewrites_past_figures_is_shown_to_the_township, roster_edits);
