//! The access matrix of the web pages and the downloads: every page and file with every role,
//! own and other village or township, logged in with the session cookie as a browser is, and
//! anonymous. An allowed page shows the village's records; a refused one is a Chinese page
//! (403) that shows nothing of them; anonymous visitors are sent to the login page. A member
//! sees only their own points (with the meetings they attended).

use zhibu_schema::{Attendance, Collection, Line, Meeting, MeetingKind, MemberId, RecordId, mapping};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, PASSWORD, TestApp, backends};

/// A browser without redirects, so the test sees them.
fn browser() -> reqwest::Client {
    zhibu_tests::http().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Logs in through the login page; returns the session cookie.
async fn cookie(app: &TestApp, username: &str) -> String {
    let r = browser()
        .post(format!("{}/login", app.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username={username}&password={PASSWORD}"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303, "page login of {username}");
    let set = r.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    set.split(';').next().expect("name=value").to_owned()
}

/// A meeting whose topic marks the village's records on a page.
async fn record_meeting(app: &TestApp, cadre: &str, village: &str, marker: &str) -> RecordId {
    let token = app.token(cadre).await;
    let mut phone = RawPhone::new(app, &token, &format!("pages-{village}"), village);
    phone.sync(app).await.expect("first sync");
    let mut m = Meeting::new(MeetingKind::ThemeDay, zhibu_server::api::today(), Line::parse(marker).expect("topic"));
    m.attendance.insert(MemberId::parse(&format!("{village}-m01")).expect("id"), Attendance::present());
    let id = RecordId::new_v7();
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &id, &m));
    phone.sync(app).await.expect("push");
    id
}

async fn matrix(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let y = app.year;
    let (v1_marker, w1_marker) = ("一村主题党日标记", "外村主题党日标记");
    let v1_meeting = record_meeting(&app, "cadre1", "v1", v1_marker).await;
    let w1_meeting = record_meeting(&app, "cadre-w", "w1", w1_marker).await;

    let roles = ["admin", "staff1", "staff2", "cadre1", "cadre3", "v1-m01"];
    let mut cookies = vec![String::new()];
    for r in roles {
        cookies.push(cookie(&app, r).await);
    }
    // (what, path, marker the page shows when allowed, statuses: anon admin staff1 staff2 cadre1 cadre3 member)
    let v1 = |p: &str| format!("/villages/v1{p}?year={y}");
    let w1 = |p: &str| format!("/villages/w1{p}?year={y}");
    let rows: Vec<(&str, String, Option<&str>, [u16; 7])> = vec![
        ("township dashboard", "/township".into(), None, [303, 200, 200, 200, 403, 403, 403]),
        ("t1 dashboard", format!("/township?township=t1&year={y}"), None, [303, 200, 200, 403, 403, 403, 403]),
        ("t2 dashboard", format!("/township?township=t2&year={y}"), None, [303, 200, 403, 200, 403, 403, 403]),
        ("v1 records", v1(""), Some(v1_marker), [303, 200, 200, 403, 200, 403, 403]),
        ("w1 records", w1(""), Some(w1_marker), [303, 200, 403, 200, 403, 403, 403]),
        ("v1 record book", v1("/book"), Some(v1_marker), [303, 200, 200, 403, 200, 403, 403]),
        ("w1 record book", w1("/book"), Some(w1_marker), [303, 200, 403, 200, 403, 403, 403]),
        ("v1 record book XLSX", v1("/book.xlsx"), None, [303, 200, 200, 403, 200, 403, 403]),
        ("w1 record book XLSX", w1("/book.xlsx"), None, [303, 200, 403, 200, 403, 403, 403]),
        (
            "v1 meeting history",
            v1(&format!("/history/meeting/{v1_meeting}")),
            Some(v1_marker),
            [303, 200, 200, 403, 200, 403, 403],
        ),
        (
            "w1 meeting history",
            w1(&format!("/history/meeting/{w1_meeting}")),
            Some(w1_marker),
            [303, 200, 403, 200, 403, 403, 403],
        ),
        ("my points", format!("/me?year={y}"), None, [303, 403, 403, 403, 403, 403, 200]),
        ("t1 report CSV", format!("/v1/townships/t1/report.csv?year={y}"), None, [401, 200, 200, 403, 403, 403, 403]),
        ("t1 report XLSX", format!("/v1/townships/t1/report.xlsx?year={y}"), None, [401, 200, 200, 403, 403, 403, 403]),
        ("t2 report CSV", format!("/v1/townships/t2/report.csv?year={y}"), None, [401, 200, 403, 200, 403, 403, 403]),
        ("v1 document", format!("/v1/villages/v1/years/{y}/doc"), None, [401, 200, 200, 403, 200, 403, 403]),
    ];
    let mut failures = Vec::new();
    for (what, path, marker, want) in &rows {
        for (i, want) in want.iter().enumerate() {
            let who = if i == 0 { "anonymous" } else { roles[i - 1] };
            let mut req = browser().get(format!("{}{path}", app.url));
            if i > 0 {
                req = req.header("Cookie", &cookies[i]);
            }
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let body = String::from_utf8_lossy(&r.bytes().await.expect("body")).into_owned();
            if status != *want {
                failures.push(format!("{what} as {who}: got {status}, want {want}"));
                continue;
            }
            let api = path.starts_with("/v1/");
            match status {
                303 if location.as_deref() != Some("/login") => {
                    failures.push(format!("{what} as {who}: sent to {location:?}, not /login"))
                }
                403 if api && !body.contains("\"error\"") => {
                    failures.push(format!("{what} as {who}: a refusal without the JSON error body"));
                }
                403 if !api && (!content_type.starts_with("text/html") || !body.contains("无权")) => {
                    failures.push(format!("{what} as {who}: the refusal is not the Chinese page: {body}"));
                }
                200 => {
                    if let Some(m) = marker
                        && !body.contains(m)
                    {
                        failures.push(format!("{what} as {who}: the page lacks the village's records"));
                    }
                }
                _ => {}
            }
            // Whatever the answer, a page never shows a village the viewer may not read.
            for (village_marker, readers) in
                [(v1_marker, ["admin", "staff1", "cadre1"]), (w1_marker, ["admin", "staff2", "cadre-w"])]
            {
                // A member sees the meetings they attended, on their own points page.
                let own_attendance = *what == "my points" && who == "v1-m01" && village_marker == v1_marker;
                if body.contains(village_marker) && !readers.contains(&who) && !own_attendance {
                    failures.push(format!("{what} as {who}: shows records of a village it may not read"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
backends!(every_page_and_download_with_every_role, matrix);

/// The dashboard's download links, followed by a browser whose session has ended (logged out
/// elsewhere, or expired), lead to the login page as every page does; a program asking the same
/// without a token still gets 401 and the JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_link_after_the_session_ended_leads_to_the_login_page() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let ended = cookie(&app, "staff1").await;
    let r = browser().post(format!("{}/logout", app.url)).header("Cookie", &ended).send().await.expect("logout");
    assert_eq!(r.status(), 303, "logout");
    for file in ["report.csv", "report.xlsx"] {
        let url = format!("{}/v1/townships/t1/{file}?year={}", app.url, app.year);
        let r = browser()
            .get(&url)
            .header("Cookie", &ended)
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("Sec-Fetch-Mode", "navigate")
            .send()
            .await
            .expect("download");
        assert_eq!(r.status(), 303, "{file} in a browser");
        assert_eq!(r.headers()["location"], "/login", "{file} in a browser");
        let r = browser().get(&url).header("Cookie", &ended).send().await.expect("download");
        assert_eq!(r.status(), 401, "{file} by a program");
        assert!(r.text().await.expect("body").contains("\"error\""), "{file}: API.md's error body");
        let r = browser()
            .get(&url)
            .header("Authorization", "Bearer ended")
            .header("Accept", "text/html")
            .send()
            .await
            .expect("download");
        assert_eq!(r.status(), 401, "{file} with a token that ended");
    }
}
