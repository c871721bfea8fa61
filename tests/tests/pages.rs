//! The township's and the members' web pages, driven as people use them.
//!
//! In headless Chromium (skipped with a note when Chromium or chromedriver is missing): the demo
//! township's staff log in, see the village that is behind flagged red on the dashboard, open
//! the other village's records and a meeting's history (device time, first received, 补录); a
//! member logs in on a 360 px wide screen and sees their own points and nobody else's; a wrong
//! password shows the Chinese error. Screenshots of every page go to `target/screenshots/`.
//!
//! Over plain HTTP (always): the session cookie's flags, the security headers, redirects of
//! anonymous visitors, refusals as Chinese pages, escaping, and that the cookie never
//! authenticates a write.

use automerge::transaction::CommitOptions;
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::{
    AccountId, Attendance, Case, Code, Collection, Date, Line, Meeting, MeetingKind, MemberId, Name, PointDelta,
    PointEntry, RecordId, Step, VillageId, VillageYear, Year, sample,
};
use zhibu_server::db::accounts::{NewAccount, Role};
use zhibu_server::db::documents::DocKey;
use zhibu_server::demo::{DEMO_PASSWORD, DEMO_TOWNSHIP};
use zhibu_tests::browser::Browser;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, PASSWORD, Server, TestApp};

fn line(s: &str) -> Line {
    Line::parse(s).expect("line")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("name")
}

fn day(year: Year, month: u8, d: u8) -> Date {
    Date::from_ymd(year, month, d).expect("date")
}

/// The fixture's server, seen as last year's: every requirement period of the scenario has
/// ended whatever today's date, so "behind" does not depend on when the test runs.
struct LastYear<'a>(&'a TestApp);

impl Server for LastYear<'_> {
    fn url(&self) -> &str {
        &self.0.url
    }
    fn http(&self) -> &reqwest::Client {
        &self.0.http
    }
    fn year(&self) -> Year {
        Year::new(i64::from(self.0.year) - 1).expect("year")
    }
}

/// One user action on a phone whose clock says `device_secs`.
fn edit_at(
    phone: &mut RawPhone,
    message: &str,
    device_secs: i64,
    f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), WriteError>,
) {
    phone
        .doc
        .transact_with::<_, _, WriteError, _>(
            |_| CommitOptions::default().with_message(message.to_owned()).with_time(device_secs),
            f,
        )
        .map_err(|e| e.error)
        .expect("edit applies");
}

/// 20:00 Beijing time on a day, as Unix seconds.
fn evening(d: Date) -> i64 {
    d.as_time().midnight().assume_utc().unix_timestamp() + 12 * 3600
}

/// A meeting with every member who is due marked by `status`.
fn meeting(
    kind: MeetingKind,
    on: Date,
    topic: &str,
    group: Option<&str>,
    roster: &VillageYear,
    status: impl Fn(&MemberId) -> Attendance,
) -> Meeting {
    let mut m = Meeting::new(kind, on, line(topic));
    m.group = group.map(name);
    m.place = Some(name("村党群服务中心"));
    m.host = Some(name("支部书记"));
    m.recorder = Some(name("组织委员"));
    for (id, member) in &roster.members {
        let due = match kind {
            MeetingKind::BranchCommittee => member.committee,
            MeetingKind::GroupMeeting => member.group.as_ref().map(Name::as_str) == group,
            _ => true,
        };
        if due {
            m.attendance.insert(id.clone(), status(id));
        }
    }
    m
}

fn all_present(_: &MemberId) -> Attendance {
    Attendance::present()
}

/// What the browser test looks for.
struct Scenario {
    year: Year,
    assembly: RecordId,
}

/// The demo township last year: 红旗村 (demo-1) kept its meetings in the third quarter, but one
/// assembly missed its quorum and everything was entered months late; 向阳村 (demo-2) held
/// one theme day and last synced ten days ago; 光明村 (demo-3) never synced.
async fn demo_last_year(app: &TestApp) -> Scenario {
    zhibu_server::demo::seed(&app.state).await.expect("demo seeds");
    let last = LastYear(app);
    let year = last.year();
    let mut rosters = Vec::new();
    for (village, size, groups) in [("demo-1", 32, 3), ("demo-2", 24, 2)] {
        // The demo's own rosters (same arguments as zhibu_server::demo), for last year.
        let v = VillageId::parse(village).expect("id");
        let roster = sample::roster(&v, year, size, groups);
        let key = DocKey { township: DEMO_TOWNSHIP.to_owned(), village: v, year };
        zhibu_server::edit::server_edit(&app.state, &key, "admin", "导入党员名册", |tx, _| {
            for (id, m) in &roster.members {
                mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
            }
            Ok(())
        })
        .await
        .expect("roster of last year");
        let cadre = format!("{village}-cadre");
        app.state
            .db
            .create_account(NewAccount {
                id: cadre.clone(),
                password: PASSWORD.to_owned(),
                role: Role::Cadre,
                township_id: Some(DEMO_TOWNSHIP.to_owned()),
                village_id: Some(village.to_owned()),
                member_id: None,
                display_name: None,
            })
            .await
            .expect("cadre account");
        rosters.push((village, cadre, roster));
    }

    let (village, cadre, roster) = &rosters[0];
    let token = app.token(cadre).await;
    let mut phone = RawPhone::new(&last, &token, "hongqi-phone", village);
    phone.sync(&last).await.expect("first sync");
    let m01 = MemberId::parse("demo-1-m01").expect("id");
    let groups: Vec<String> =
        roster.members.values().filter_map(|m| m.group.as_ref().map(ToString::to_string)).collect();
    let mut meetings = Vec::new();
    for month in 7..=9u8 {
        meetings.push(meeting(
            MeetingKind::BranchCommittee,
            day(year, month, 5),
            "研究本月工作",
            None,
            roster,
            all_present,
        ));
        let theme = meeting(MeetingKind::ThemeDay, day(year, month, 10), "学习党章", None, roster, |id| {
            if month == 7 && *id == m01 { Attendance::absent() } else { Attendance::present() }
        });
        meetings.push(theme);
        let mut seen = Vec::new();
        for g in &groups {
            if !seen.contains(g) {
                seen.push(g.clone());
                meetings.push(meeting(
                    MeetingKind::GroupMeeting,
                    day(year, month, 20),
                    "学习讨论",
                    Some(g),
                    roster,
                    all_present,
                ));
            }
        }
    }
    meetings.push(meeting(MeetingKind::PartyLesson, day(year, 8, 28), "党课：基层治理", None, roster, all_present));
    meetings.push(meeting(MeetingKind::BranchAssembly, day(year, 9, 25), "审议发展党员", None, roster, all_present));
    meetings.push(meeting(MeetingKind::OrgLifeMeeting, day(year, 9, 28), "年度组织生活会", None, roster, all_present));
    for m in &meetings {
        edit_at(&mut phone, "记录会议", evening(m.held_on), |tx| {
            mapping::put_record_id(tx, Collection::Meetings, &RecordId::new_v7(), m)
        });
    }
    // An assembly where three members came: no quorum. The phone's clock says it was recorded
    // that evening; the server receives it only now.
    let assembly = RecordId::new_v7();
    let assembly_day = day(year, 7, 15);
    let few = ["demo-1-m01", "demo-1-m02", "demo-1-m03"];
    let thin = meeting(MeetingKind::BranchAssembly, assembly_day, "审议村级年度计划", None, roster, |id| {
        if few.contains(&id.as_str()) { Attendance::present() } else { Attendance::absent() }
    });
    edit_at(&mut phone, "记录会议", evening(assembly_day), |tx| {
        mapping::put_record_id(tx, Collection::Meetings, &assembly, &thin)
    });
    let volunteer = PointEntry {
        member_id: m01.clone(),
        rule: Code::parse("volunteer").expect("code"),
        delta: PointDelta::new(3).expect("delta"),
        on: day(year, 8, 1),
        note: Some(zhibu_schema::Prose::parse("参加防汛志愿服务").expect("prose")),
        by: AccountId::parse(cadre).expect("id"),
        voided: None,
    };
    edit_at(&mut phone, "奖励积分", evening(day(year, 8, 1)), |tx| {
        mapping::put_record_id(tx, Collection::Points, &RecordId::new_v7(), &volunteer)
    });
    let opened = day(year, 7, 3);
    let mut case = Case::new(Code::parse("homestead").expect("code"), line("李家宅基地申请"), opened);
    case.applicant = Some(name("李春生"));
    for (step, on) in
        [("application", opened), ("qualification_review", day(year, 7, 8)), ("report_to_township", day(year, 7, 20))]
    {
        let by = AccountId::parse(cadre).expect("id");
        case.steps.insert(Code::parse(step).expect("code"), Step::new(on, by, None));
    }
    case.closed_on = Some(day(year, 7, 25));
    edit_at(&mut phone, "办理事项", evening(opened), |tx| {
        mapping::put_record_id(tx, Collection::Cases, &RecordId::new_v7(), &case)
    });
    phone.sync(&last).await.expect("push the quarter");

    // A correction after the record reached the server: one more member marked present.
    let mut fixed = thin.clone();
    fixed.attendance.insert(MemberId::parse("demo-1-m04").expect("id"), Attendance::present());
    edit_at(&mut phone, "更正出勤", evening(assembly_day) + 3600, |tx| {
        mapping::put_record_id(tx, Collection::Meetings, &assembly, &fixed)
    });
    phone.sync(&last).await.expect("push the correction");

    let (village, cadre, roster) = &rosters[1];
    let token = app.token(cadre).await;
    let mut phone = RawPhone::new(&last, &token, "xiangyang-phone", village);
    phone.sync(&last).await.expect("first sync");
    let theme = meeting(MeetingKind::ThemeDay, day(year, 8, 10), "环境整治", None, roster, all_present);
    edit_at(&mut phone, "记录会议", evening(theme.held_on), |tx| {
        mapping::put_record_id(tx, Collection::Meetings, &RecordId::new_v7(), &theme)
    });
    phone.sync(&last).await.expect("push");
    // Noon Beijing time ten days ago: the dashboard counts days in Beijing time, and ten days
    // and an hour before 00:30 there is eleven days by the calendar.
    let ten_days_ago = zhibu_server::api::today().add_days(-10).expect("day");
    let ten_days_ago = (ten_days_ago.as_time().midnight().assume_utc().unix_timestamp() + 4 * 3600) * 1000;
    sqlx::query("UPDATE devices SET last_sync_at = $1 WHERE village_id = 'demo-2'")
        .bind(ten_days_ago)
        .execute(&app.state.db.pool)
        .await
        .expect("age the last sync");

    Scenario { year, assembly }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_township_and_a_member_use_the_pages_in_a_real_browser() {
    let Some(browser) = Browser::start().await else { return };
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always available");
    let s = demo_last_year(&app).await;
    let base = app.url.as_str();
    let y = s.year;

    // A wrong password: the Chinese message, still on the login page.
    browser.log_in(base, "township", "not-the-password").await;
    assert_eq!(browser.path().await, "/login");
    assert!(browser.text("#login-error").await.contains("用户名或密码不对"));
    browser.screenshot("login-error", 1000).await;

    // The township's staff land on the dashboard; last year's third quarter shows who is behind.
    browser.log_in(base, "township", DEMO_PASSWORD).await;
    assert_eq!(browser.path().await, "/township");
    browser.goto(&format!("{base}/township?year={y}&period=q3")).await;
    let cell = |v: &str, k: &str| format!("td.cell[data-village=\"{v}\"][data-kind=\"{k}\"]");
    let behind = browser.class(&cell("demo-2", "branch_committee")).await;
    assert!(behind.split(' ').any(|c| c == "behind"), "向阳村 held no committee meeting: {behind}");
    assert!(browser.class(&cell("demo-2", "group_meeting")).await.contains("behind"));
    assert_eq!(browser.text(&cell("demo-1", "branch_committee")).await, "3/3");
    assert!(browser.class(&cell("demo-1", "branch_committee")).await.contains("met"));
    let assembly = browser.class(&cell("demo-1", "branch_assembly")).await;
    assert!(assembly.contains("met"), "the September assembly counts: {assembly}");
    let mark = browser.find(&format!("{} .quorum", cell("demo-1", "branch_assembly"))).await;
    assert_eq!(mark.text().await.expect("text"), "⚠", "the July assembly missed its quorum");
    let late: u32 = browser.text("tr[data-village=\"demo-1\"] td[data-field=\"late\"]").await.parse().expect("count");
    assert!(late >= 20, "every meeting of 红旗村 reached the server months late: {late}");
    assert_eq!(browser.text("tr[data-village=\"demo-2\"] td[data-field=\"sync\"]").await, "10 天前");
    assert!(browser.class("tr[data-village=\"demo-2\"] td[data-field=\"sync\"]").await.contains("stale"));
    assert_eq!(browser.text("tr[data-village=\"demo-3\"] td[data-field=\"sync\"]").await, "从未同步");
    assert!(browser.text("#flags").await.contains("向阳村"));
    browser.screenshot("dashboard", 1400).await;

    // Open 红旗村 from the dashboard, then the history of the thin assembly.
    browser.click_to("tr[data-village=\"demo-1\"] th a", "/villages/demo-1").await;
    assert!(browser.text("h1").await.contains("红旗村"));
    let row = format!("#meeting-list tr[data-meeting=\"{}\"]", s.assembly);
    let text = browser.text(&row).await;
    assert!(text.contains("补录") && text.contains("未达到"), "{text}");
    assert!(browser.text("#cases").await.contains("缺少步骤「公示」"));
    assert!(browser.find_all("#roster-table tbody tr").await.len() == 32);
    browser.screenshot("village", 1280).await;

    let history = format!("/villages/demo-1/history/meeting/{}", s.assembly);
    browser.click_to(&format!("{row} a.history-link"), &history).await;
    assert!(browser.text("#record-late").await.contains("补录"));
    let rows = browser.find_all("#history tbody tr").await;
    assert_eq!(rows.len(), 2, "the entry and the correction");
    let device = format!("{y}-07-15 20:00:00");
    assert_eq!(browser.text("#history tbody tr:nth-child(1) .device-time").await, device);
    let today = zhibu_server::api::today().to_string();
    let received = browser.text("#history tbody tr:nth-child(1) .received-at").await;
    assert!(received.starts_with(&today), "first received today, not on {device}: {received}");
    assert!(browser.text("#history tbody tr:nth-child(1)").await.contains("补录"));
    assert!(browser.text("#history tbody tr:nth-child(2)").await.contains("同步后修改"));
    assert!(browser.text("#history tbody tr:nth-child(2)").await.contains("出勤"));
    browser.screenshot("history", 1280).await;

    browser.goto(&format!("{base}/villages/demo-1/book?year={y}")).await;
    assert_eq!(browser.find_all(".book-section").await.len(), 6, "a section per meeting kind");
    browser.screenshot("book", 1000).await;

    browser.click_to("header.site form button", "/login").await;

    // A member on a phone-sized screen: their own points, nobody else's.
    browser.log_in(base, "demo-1-m01", DEMO_PASSWORD).await;
    assert_eq!(browser.path().await, "/me");
    browser.client.set_window_size(360, 800).await.expect("phone width");
    browser.goto(&format!("{base}/me?year={y}")).await;
    assert_eq!(browser.text("#my-score").await, "101", "100 − 2 for the missed theme day + 3 volunteering");
    assert_eq!(browser.text("#my-grade").await, "优秀");
    let entries = browser.text("#entries").await;
    assert!(entries.contains("参加防汛志愿服务") && entries.contains("-2"), "{entries}");
    assert!(browser.content_width().await <= 360, "nothing wider than the phone");
    let source = browser.source().await;
    let roster = sample::roster(&VillageId::parse("demo-1").expect("id"), y, 32, 3);
    for (id, m) in roster.members.iter().filter(|(id, _)| id.as_str() != "demo-1-m01") {
        assert!(!source.contains(id.as_str()), "another member's id {id} on the member page");
        assert!(!source.contains(m.name.as_str()), "another member's name {} on the member page", m.name);
    }
    browser.screenshot("me-360", 360).await;

    browser.goto(&format!("{base}/villages/demo-1?year={y}")).await;
    assert!(browser.text("h1").await.contains("无权查看"));
    assert!(!browser.source().await.contains("审议村级年度计划"));
    browser.screenshot("forbidden-360", 360).await;
    browser.close().await;
}

/// A form as a browser posts it (`application/x-www-form-urlencoded`).
fn form(pairs: &[(&str, &str)]) -> (&'static str, String) {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let body = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    ("application/x-www-form-urlencoded", body)
}

/// A client that keeps redirects to itself, so the test sees them.
fn client() -> reqwest::Client {
    zhibu_tests::http().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn log_in(app: &TestApp, username: &str, https: bool) -> (String, String) {
    let (content_type, body) = form(&[("username", username), ("password", PASSWORD)]);
    let mut r = client().post(format!("{}/login", app.url)).header("Content-Type", content_type).body(body);
    if https {
        r = r.header("X-Forwarded-Proto", "https");
    }
    let r = r.send().await.expect("login");
    assert_eq!(r.status(), 303, "a login redirects");
    let location = r.headers()["location"].to_str().expect("location").to_owned();
    let set_cookie = r.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    (location, set_cookie)
}

fn cookie_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("name=value").to_owned()
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    client().get(format!("{}{path}", app.url)).header("Cookie", cookie).send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_headers_and_refusals_over_http() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always available");
    let y = app.year;

    // Anonymous visitors go to the login page; a wrong password is a Chinese message.
    let r = get(&app, "", "/township").await;
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().ok()), (303, Some("/login")));
    let (content_type, body) = form(&[("username", "staff1"), ("password", "wrong")]);
    let r = client()
        .post(format!("{}/login", app.url))
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let body = r.text().await.expect("body");
    assert!(body.contains("用户名或密码不对") && body.contains("value=\"staff1\""), "{body}");

    // The session cookie: HttpOnly, SameSite=Strict, Secure when the request came over HTTPS.
    let (home, set_cookie) = log_in(&app, "staff1", false).await;
    assert_eq!(home, "/township");
    assert!(set_cookie.starts_with("zhibu_session="));
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    // Over HTTPS the cookie is `__Host-` (a browser takes it only from a secure page of this
    // host), and only that name is believed there: a plain one planted over HTTP or by a
    // neighbouring subdomain signs nobody in.
    let (_, secure) = log_in(&app, "staff1", true).await;
    assert!(secure.starts_with("__Host-zhibu_session=") && secure.contains("; Secure"), "{secure}");
    assert!(secure.contains("; Path=/") && !secure.contains("Domain"), "{secure}");
    let secure_token = cookie_of(&secure).trim_start_matches("__Host-zhibu_session=").to_owned();
    let over_https = |cookie: String| {
        client()
            .get(format!("{}/township", app.url))
            .header("Cookie", cookie)
            .header("X-Forwarded-Proto", "https")
            .send()
    };
    let r = over_https(format!("__Host-zhibu_session={secure_token}")).await.expect("request");
    assert_eq!(r.status(), 200);
    let r = over_https(format!("zhibu_session={secure_token}")).await.expect("request");
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().ok()), (303, Some("/login")));
    let r = get(&app, &format!("__Host-zhibu_session={secure_token}"), "/township").await;
    assert_eq!(r.status(), 303, "plain HTTP believes only the plain name");
    // Logging out over HTTPS ends the session and both cookies.
    let r = client()
        .post(format!("{}/logout", app.url))
        .header("Cookie", format!("__Host-zhibu_session={secure_token}"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let ended: Vec<&str> = r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended.iter().all(|c| c.contains("Max-Age=0")), "{ended:?}");
    assert!(ended.iter().any(|c| c.starts_with("__Host-zhibu_session=;")), "{ended:?}");
    assert!(ended.iter().any(|c| c.starts_with("zhibu_session=;")), "{ended:?}");
    let r = over_https(format!("__Host-zhibu_session={secure_token}")).await.expect("request");
    assert_eq!(r.status(), 303, "the session ended");
    // A login form posted from another site's page is refused, and signs nobody in; one from
    // this site's own page is taken.
    let (content_type, body) = form(&[("username", "staff1"), ("password", PASSWORD)]);
    let host = app.url.trim_start_matches("http://").to_owned();
    for (origin, status) in [("http://evil.example", 403), (app.url.as_str(), 303)] {
        let r = client()
            .post(format!("{}/login", app.url))
            .header("Content-Type", content_type)
            .header("Origin", origin)
            .body(body.clone())
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), status, "{origin} on {host}");
        assert_eq!(r.headers().contains_key("set-cookie"), status == 303, "{origin}");
    }
    let r = client()
        .post(format!("{}/logout", app.url))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 403);
    let staff = cookie_of(&set_cookie);

    // Security headers on the pages.
    let r = get(&app, &staff, "/township").await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(csp.contains("default-src 'self'") && csp.contains("style-src 'self'") && !csp.contains("unsafe"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    let body = r.text().await.expect("body");
    assert!(body.contains("一镇") && body.contains("二村") && !body.contains("<script"), "{body}");
    // A year no village recorded anything in: flagged, not shown as nothing owed.
    let body = get(&app, &staff, &format!("/township?year={}", y.get() - 1)).await.text().await.expect("body");
    assert!(body.contains("本年度没有任何记录") && body.contains(">无记录<"), "{body}");
    assert!(!body.contains("各村本期都已达标") && body.contains(&format!("按 {} 年全年计算", y.get() - 1)), "{body}");
    // The period as the report names it, with its year.
    let r = get(&app, &staff, &format!("/township?period={}-q1", y.get() - 1)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("本年度没有任何记录"));
    let r = get(&app, "", "/assets/site.css").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/css"));

    // The dashboard's download links work with the cookie.
    let r = get(&app, &staff, &format!("/v1/townships/t1/report.csv?year={y}&period=q1")).await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.expect("csv").starts_with(b"\xEF\xBB\xBF"));

    // A cadre writes a meeting whose topic looks like markup; the page shows it as text.
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let on = zhibu_server::api::today();
    let mut m = Meeting::new(MeetingKind::ThemeDay, on, line("<script>alert(1)</script> & 学习"));
    m.attendance.insert(MemberId::parse("v1-m01").expect("id"), Attendance::present());
    let meeting_id = RecordId::new_v7();
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &meeting_id, &m));
    // Another, which the member was on leave from: worth nothing, but shown to them.
    let mut away = Meeting::new(MeetingKind::GroupMeeting, on, line("党小组学习"));
    away.group = Some(name("第一党小组"));
    let reason = zhibu_schema::Prose::parse("外出务工").expect("reason");
    away.attendance.insert(MemberId::parse("v1-m01").expect("id"), Attendance::leave(reason, Some(name("王书记"))));
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &RecordId::new_v7(), &away));
    phone.sync(&app).await.expect("push");
    let r = get(&app, &staff, &format!("/villages/v1?year={y}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.expect("body");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;") && body.contains("&amp; 学习"), "escaped");
    assert!(!body.contains("<script>alert(1)"), "never markup");
    let r = get(&app, &staff, &format!("/villages/v1/history/meeting/{meeting_id}?year={y}")).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("cadre1") && body.contains("peer-phone-a") && body.contains("新建"), "{body}");

    // An address no page has: a Chinese page for the browser, JSON for a program and the API.
    let lost = |path: &str, accept: &str| {
        client().get(format!("{}{path}", app.url)).header("Cookie", &staff).header("Accept", accept).send()
    };
    let r = lost("/me/v1-m01", "text/html,application/xhtml+xml").await.expect("request");
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    assert!(r.text().await.expect("body").contains("没有找到"));
    for (path, accept) in [("/me/v1-m01", "application/json"), ("/v1/no-such-thing", "text/html")] {
        let r = lost(path, accept).await.expect("request");
        assert_eq!(r.status(), 404);
        let body: serde_json::Value = r.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }

    // Another township's village, another member's page, the dashboard for a member: refused
    // with a Chinese page that shows nothing of the records.
    let r = get(&app, &staff, &format!("/villages/w1?year={y}")).await;
    assert_eq!(r.status(), 403);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let body = r.text().await.expect("body");
    assert!(body.contains("无权查看"), "{body}");
    let w1 = app.records("w1").await;
    for m in w1.members.values() {
        assert!(!body.contains(m.name.as_str()), "a name of 外村 on the refusal");
    }
    assert_eq!(get(&app, &staff, "/township?township=t2").await.status(), 403);
    assert_eq!(get(&app, &staff, "/me").await.status(), 403);
    let (home, member) = log_in(&app, "v1-m01", false).await;
    assert_eq!(home, "/me");
    let member = cookie_of(&member);
    assert_eq!(get(&app, &member, "/township").await.status(), 403);
    assert_eq!(get(&app, &member, &format!("/villages/v1?year={y}")).await.status(), 403);
    assert_eq!(get(&app, &member, &format!("/villages/v1/book.xlsx?year={y}")).await.status(), 403);
    let r = get(&app, &member, &format!("/me?year={y}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The same figures read through the API with the session cookie are not kept either.
    let api = get(&app, &member, &format!("/v1/me/points?year={y}")).await;
    assert_eq!((api.status().as_u16(), &api.headers()["cache-control"]), (200, &"no-store".parse().expect("value")));
    let body = r.text().await.expect("body");
    assert!(body.contains("name=\"viewport\""), "made for phones");
    // What each grade takes is on the page, and where an entry came from in plain words.
    assert!(body.contains("90 分及以上为优秀，80 到 89 分为良好，60 到 79 分为合格"), "{body}");
    assert!(!body.contains("手工"), "{body}");
    // Meetings attended, worth nothing either way, are folded under the entries that count.
    let (counted, folded) = body.split_once("id=\"attended\"").expect("the attended meetings, folded");
    assert!(folded.contains("按时出勤 1 次（不加减分）") && folded.contains("&amp; 学习"), "{folded}");
    // So are the meetings the member was on leave from, with the reason they were let off for.
    let (_, leaves) = folded.split_once("id=\"leaves\"").expect("the leaves, folded");
    assert!(leaves.contains("请假 1 次（不加减分）") && leaves.contains("党小组学习"), "{leaves}");
    assert!(leaves.contains("事由：外出务工，批准人：王书记"), "{leaves}");
    let (_, counted) = counted.split_once("id=\"entries\"").expect("the entries");
    assert!(!counted.contains("&amp; 学习"), "{counted}");
    let v1 = app.records("v1").await;
    let own = v1.member(&MemberId::parse("v1-m01").expect("id")).expect("on the roster").name.to_string();
    assert!(body.contains(&own));
    for (id, m) in v1.members.iter().filter(|(id, _)| id.as_str() != "v1-m01") {
        assert!(!body.contains(id.as_str()) && !body.contains(m.name.as_str()), "{id} on v1-m01's page");
    }
    assert!(body.contains("出勤"), "each entry says where it came from");
    // The fixture's village has no roster of last year: no link to a page that would say so.
    assert!(!body.contains(&format!("/me?year={}", i64::from(y) - 1)), "{body}");

    // A cadre may read their own village's page, not another's.
    let (home, cadre) = log_in(&app, "cadre1", false).await;
    assert_eq!(home, "/villages/v1");
    let cadre = cookie_of(&cadre);
    let r = get(&app, &cadre, &format!("/villages/v1?year={y}")).await;
    assert_eq!(r.status(), 200);
    // The village's cadres, who post the points, see each member's; the township sees how
    // many have each grade (DOMAIN.md: no league table).
    let body = r.text().await.expect("body");
    assert!(body.contains("<th>积分</th>") && body.contains("等次：优秀"), "{body}");
    let body = get(&app, &staff, &format!("/villages/v1?year={y}")).await.text().await.expect("body");
    assert!(!body.contains("<th>积分</th>") && body.contains("等次：优秀"), "{body}");
    assert!(body.contains("每名党员的积分只向本人和本村干部公开"));
    // From the dashboard at a period to a village and back: the period stays.
    let body =
        get(&app, &staff, &format!("/township?township=t1&year={y}&period=q2")).await.text().await.expect("body");
    let body = body.replace("&#x2f;", "/");
    assert!(body.contains(&format!("/villages/v1?year={y}&amp;period=q2")), "{body}");
    let body = get(&app, &staff, &format!("/villages/v1?year={y}&period=q2")).await.text().await.expect("body");
    let body = body.replace("&#x2f;", "/");
    assert!(body.contains(&format!("/township?township=t1&amp;year={y}&amp;period=q2")), "{body}");
    // Looked at by month, a kind owed by quarter or year says it is counted over that span.
    let body =
        get(&app, &staff, &format!("/township?township=t1&year={y}&period=m2")).await.text().await.expect("body");
    assert!(body.contains("支部党员大会（按本季度计）") && body.contains("组织生活会（按全年计）"), "{body}");
    assert!(body.contains(">主题党日<"), "a monthly kind is the month's: {body}");
    let r = get(&app, &staff, &format!("/villages/v1?year={y}&period=%3Cscript%3E")).await;
    assert_eq!(r.status(), 200, "a period that is none is left out of the way back");
    assert!(!r.text().await.expect("body").contains("period=%3C"));
    assert_eq!(get(&app, &cadre, &format!("/villages/v2?year={y}")).await.status(), 403);

    // An admin picks a township; a period that does not exist is a Chinese error page; a year
    // without records is an empty page, not an error.
    let (home, admin) = log_in(&app, "admin", false).await;
    assert_eq!(home, "/township");
    let admin = cookie_of(&admin);
    let body = get(&app, &admin, "/township").await.text().await.expect("body");
    assert!(body.contains("选择乡镇") && body.contains("township=t1") && body.contains("township=t2"), "{body}");
    assert_eq!(get(&app, &admin, "/township?township=t2").await.status(), 200);
    let r = get(&app, &admin, "/township?township=t1&period=q9").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("统计周期"));
    let r = get(&app, &admin, "/villages/v2?year=2001").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("本年度还没有会议记录"));
    assert_eq!(get(&app, &admin, "/villages/nowhere").await.status(), 404);
    // The first and last years the server keeps link to no year beyond them.
    for (year, beyond) in [("2000", "year=1999"), ("2100", "year=2101")] {
        let body = get(&app, &admin, &format!("/villages/v1?year={year}")).await.text().await.expect("body");
        assert!(body.contains(&format!("{year} 年")) && !body.contains(beyond), "{year}: {body}");
    }
    // A query the page cannot read is refused in Chinese, without serde's English.
    let r = get(&app, &admin, "/villages/v1?year=2025&year=2026").await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.expect("body");
    assert!(body.contains("查询参数「year」写了不止一次") && !body.contains("Failed"), "{body}");

    // The cookie authenticates reads only: a write with it alone is refused.
    let r = client()
        .post(format!("{}/v1/villages/v1/years/{y}/sync", app.url))
        .header("Cookie", &cadre)
        .header("X-Peer-Id", "browser")
        .header("Content-Type", "application/octet-stream")
        .body(Vec::new())
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);

    // Logging out ends the session on the server, not only in the browser.
    let r = client().post(format!("{}/logout", app.url)).header("Cookie", &staff).send().await.expect("logout");
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
    let r = get(&app, &staff, "/township").await;
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().ok()), (303, Some("/login")));
}

/// Early in a year, before the village has synced its new roster, a member's home page shows
/// last year's points and says why, instead of an error whose only link leads back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_not_yet_on_this_years_roster_sees_last_years_points() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always available");
    let last = Year::new(i64::from(app.year.get()) - 1).expect("year");
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::from_nothing(&app, &token, "phone-a", "v1", last);
    phone.sync(&app).await.expect("first sync");
    let member = zhibu_schema::Member::new(name("去年的党员"), zhibu_schema::MemberStatus::Full);
    phone.edit("添加党员", |tx| mapping::put_record(tx, zhibu_schema::Collection::Members, "v1-m40", &member));
    phone.sync(&app).await.expect("push");
    app.state
        .db
        .create_account(NewAccount {
            id: "v1-m40".to_owned(),
            password: PASSWORD.to_owned(),
            role: Role::Member,
            township_id: Some("t1".to_owned()),
            village_id: Some("v1".to_owned()),
            member_id: Some("v1-m40".to_owned()),
            display_name: None,
        })
        .await
        .expect("account");
    let (_, set_cookie) = log_in(&app, "v1-m40", false).await;
    let cookie = cookie_of(&set_cookie);
    let r = get(&app, &cookie, "/me").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("去年的党员") && body.contains(&format!("{last} 年")), "{body}");
    assert!(body.contains(&format!("先显示 {last} 年的积分")), "{body}");
    assert!(!body.contains(&format!("/me?year={}", i64::from(last) - 1)), "no roster the year before: {body}");
    assert!(!body.contains(&format!("/me?year={}", app.year)), "nor a link to this year's, which lacks them: {body}");
    // Asked for this year by name, the page says it has no record, as before.
    assert_eq!(get(&app, &cookie, &format!("/me?year={}", app.year)).await.status(), 404);
    // On this year's roster too: this year's page links to last year's.
    let mut now = RawPhone::new(&app, &token, "phone-b", "v1");
    now.sync(&app).await.expect("first sync");
    now.edit("添加党员", |tx| mapping::put_record(tx, zhibu_schema::Collection::Members, "v1-m40", &member));
    now.sync(&app).await.expect("push");
    let r = get(&app, &cookie, &format!("/me?year={}", app.year)).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains(&format!("/me?year={last}")), "{body}");
}
