//! The phone over HTTP: the reqwest transport, login and the `zhibu` program against a stand-in
//! that serves the real sync core (see `common/http.rs`), so status codes, bodies and headers
//! are exercised without the real server.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{HttpServer, PASSWORD};
use common::{Server, cadre_session, key, quick, year};
use zhibu_client::zhibu_schema::{
    Attendance, Meeting, MeetingKind, Member, MemberId, MemberStatus, Name, Text, mapping,
};
use zhibu_client::{ErrorKind, HttpTransport, Phone};

fn meeting() -> Meeting {
    let mut m = Meeting::new(MeetingKind::PartyLesson, common::day(5, 1), Text::parse("党课").unwrap());
    m.attendance.insert(MemberId::parse("v1-m01").unwrap(), Attendance::present());
    m
}

async fn stand_in() -> HttpServer {
    HttpServer::start(Server::new(year(), 6, 1), "127.0.0.1:0".parse().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_both_sync_paths_over_http() {
    let http = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    let err = zhibu_client::login(&phone, &http.url(), "cadre1", "wrong").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLoggedIn);
    assert!(err.to_string().contains("用户名或密码不对"), "{err}");
    assert!(phone.session().is_none());

    let session = zhibu_client::login(&phone, &http.url(), "cadre1", PASSWORD).await.unwrap();
    assert_eq!(session.account.id.as_str(), "cadre1");
    assert!(phone.catalog_fetched_at().is_some(), "the catalog comes with the login");
    let transport = HttpTransport::for_phone(&phone).unwrap();
    phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap();
    assert_eq!(phone.records(year()).unwrap().members.len(), 6);

    let fast = phone.record_meeting(&meeting()).unwrap();
    let report = phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap();
    assert!(!report.docs[0].standard);
    // The server cannot settle the next one on the fast path: the standard protocol, with its
    // 200 and 204 answers, takes over.
    http.server.lock().unwrap().resync_rate = 1.0;
    let standard = phone.record_meeting(&meeting()).unwrap();
    let report = phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap();
    assert!(report.docs[0].standard && report.refusals().next().is_none(), "{report:?}");
    let records = mapping::read(&http.server.lock().unwrap().docs[&key()]).unwrap().doc;
    assert!(records.meetings.contains_key(&fast) && records.meetings.contains_key(&standard));
    assert_eq!(phone.pending_edits(), 0);

    // A second cadre's phone gets everything.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Phone::open(other_dir.path()).unwrap();
    zhibu_client::login(&other, &http.url(), "cadre2", PASSWORD).await.unwrap();
    other.sync(&HttpTransport::for_phone(&other).unwrap(), &quick(), &mut |_| {}).await.unwrap();
    assert_eq!(other.document(&key()).unwrap().get_heads(), phone.document(&key()).unwrap().get_heads());

    // A revoked token: the sync says so, and the edits stay.
    phone.record_meeting(&meeting()).unwrap();
    http.revoked.lock().unwrap().insert("cadre1".into());
    let err = phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLoggedIn, "{err:?}");
    assert!(err.to_string().contains("请重新登录"), "{err}");
    assert_eq!(phone.pending_edits(), 1);
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn zhibu(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhibu"));
    cmd.arg("--dir").arg(dir).args(args).env("ZHIBU_PASSWORD", PASSWORD);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_reports_a_refusal_rebuilds_and_shows_a_members_points() {
    let http = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let login = zhibu(d, &["login", "--server", &http.url(), "--user", "cadre1"]).await;
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stdout.contains("已登录：cadre1（村干部，村 v1）"), "{}", login.stdout);
    assert_eq!(zhibu(d, &["sync"]).await.code, 0);

    // The township narrows a rule after this phone fetched the catalog.
    http.server
        .lock()
        .unwrap()
        .catalog
        .point_rules
        .iter_mut()
        .filter(|r| r.code.as_str() == "volunteer")
        .for_each(|r| r.max = 3);
    let on = format!("{}-04-01", year());
    assert_eq!(zhibu(d, &["points", "award", "v1-m01", "volunteer", "5", "--date", &on]).await.code, 0);
    assert_eq!(
        zhibu(d, &["meeting", "record", "--kind", "党课", "--date", &on, "--topic", "党课", "--all-present"])
            .await
            .code,
        0
    );
    let sync = zhibu(d, &["sync"]).await;
    assert_eq!(sync.code, 4, "{}", sync.stderr);
    assert!(sync.stderr.contains("「志愿服务、义务劳动」的分值应在 1 到 3 之间，这里是 5"), "{}", sync.stderr);
    assert!(sync.stderr.contains("zhibu rebuild"), "{}", sync.stderr);
    let status = zhibu(d, &["status"]).await.stdout;
    assert!(status.contains("拒绝（422）") && status.contains("待同步的修改：2 条"), "{status}");

    let rebuild = zhibu(d, &["rebuild"]).await;
    assert_eq!(rebuild.code, 0, "{}", rebuild.stderr);
    assert!(rebuild.stdout.contains("保留 1 条本地修改，舍弃 1 条"), "{}", rebuild.stdout);
    assert_eq!(zhibu(d, &["sync"]).await.code, 0);
    assert!(zhibu(d, &["status"]).await.stdout.contains("待同步的修改：0 条"));

    http.revoked.lock().unwrap().insert("cadre1".into());
    let expired = zhibu(d, &["sync"]).await;
    assert_eq!(expired.code, 6, "{}", expired.stderr);

    let member = tempfile::tempdir().unwrap();
    assert_eq!(zhibu(member.path(), &["login", "--server", &http.url(), "--user", "v1-m01"]).await.code, 0);
    let me = zhibu(member.path(), &["me"]).await;
    assert_eq!(me.code, 0, "{}", me.stderr);
    assert!(me.stdout.contains("积分：100 分"), "{}", me.stdout);
    assert!(me.stdout.contains("参加三会一课") || me.stdout.contains("attend_present"), "{}", me.stdout);
    let not_cadre = zhibu(member.path(), &["sync"]).await;
    assert_eq!(not_cadre.code, 4, "{}", not_cadre.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_watch_sends_the_edits_by_itself_once_the_server_answers() {
    // A port with nobody listening yet: the phone is "offline".
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let phone = Phone::open(dir.path()).unwrap();
        let mut session = cadre_session("cadre1");
        session.server = format!("http://{addr}");
        session.token = "tok-cadre1".into();
        phone.set_session(session).unwrap();
        let m = Member::new(Name::parse("赵新民").unwrap(), MemberStatus::Probationary);
        phone.add_member(year(), &MemberId::parse("v1-m42").unwrap(), &m).unwrap();
    }
    let mut watch = Command::new(env!("CARGO_BIN_EXE_zhibu"))
        .arg("--dir")
        .arg(dir.path())
        .args(["sync", "--watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The program's progress lines, as they come.
    let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let (lines, stderr) = (lines.clone(), watch.stderr.take().unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The signal returns.
    let http = HttpServer::start(Server::new(year(), 6, 3), addr).await;
    let start = Instant::now();
    while !lines.lock().unwrap().contains("同步完成") && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.kill().unwrap();
    watch.wait().unwrap();
    reader.join().unwrap();
    let stderr = lines.lock().unwrap().clone();
    let arrived = http
        .server
        .lock()
        .unwrap()
        .docs
        .get(&key())
        .is_some_and(|d| mapping::read(d).unwrap().doc.members.contains_key(&MemberId::parse("v1-m42").unwrap()));
    assert!(arrived, "the watcher never delivered the edit:\n{stderr}");
    assert!(stderr.contains("连不上服务器") && stderr.contains("同步完成"), "{stderr}");
}

/// cadre1's phone, logged in to the stand-in and synced once.
async fn synced_phone(http: &HttpServer) -> (tempfile::TempDir, Phone, HttpTransport) {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    zhibu_client::login(&phone, &http.url(), "cadre1", PASSWORD).await.unwrap();
    let transport = HttpTransport::for_phone(&phone).unwrap();
    phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap();
    (dir, phone, transport)
}

/// A proxy in front of the server answers the fast path 413 (its body limit) or 404 (not
/// routed), without the server's JSON error: not a refusal of the records. The standard
/// protocol takes over, document by document, and nothing is recorded as refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_path_turned_away_by_a_proxy_falls_back_to_the_standard_protocol() {
    let http = stand_in().await;
    let (_dir, phone, transport) = synced_phone(&http).await;
    for status in [413, 404] {
        http.server.lock().unwrap().fast_path_status = Some(status);
        let id = phone.record_meeting(&meeting()).unwrap();
        let report = phone.sync(&transport, &quick(), &mut |_| {}).await.unwrap();
        assert!(report.refusals().next().is_none(), "{status}: {report:?}");
        assert!(report.docs.iter().all(|d| d.standard), "{status}: {report:?}");
        assert_eq!(phone.pending_edits(), 0, "{status}");
        assert!(phone.status().unwrap().docs.iter().all(|d| d.refusal.is_none()), "{status}");
        let records = mapping::read(&http.server.lock().unwrap().docs[&key()]).unwrap().doc;
        assert!(records.meetings.contains_key(&id), "{status}");
    }
}

/// A rebuild whose request for the server's document is answered 404 by something in front of
/// the server (no API.md body) fails, rather than rebuild the year onto nothing and set the
/// phone's edits aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_does_not_take_a_proxys_404_for_an_empty_year() {
    let http = stand_in().await;
    let (_dir, phone, transport) = synced_phone(&http).await;
    let id = phone.record_meeting(&meeting()).unwrap();
    http.server.lock().unwrap().doc_path_status = Some(404);
    let year = key().year;
    let err = phone.rebuild(&transport, year).await.expect_err("not rebuilt onto nothing");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(phone.records(year).unwrap().meetings.contains_key(&id), "the edit stays");
    assert_eq!(phone.pending_edits(), 1);
}

/// A login that fails for a wrong address, and a cadre asking for a member's own points, say so
/// in their own words: not as a refusal of records, never with the advice to rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_my_points_failures_are_not_worded_as_sync_refusals() {
    let http = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    // Some other web server at the address given: 404 for everything.
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let wrong = format!("http://{}", other.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = other.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")
                .await;
        }
    });
    let err = zhibu_client::login(&phone, &wrong, "cadre1", PASSWORD).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLoggedIn, "{err:?}");
    assert!(err.to_string().contains("请检查服务器地址") && !err.to_string().contains("同步"), "{err}");

    zhibu_client::login(&phone, &http.url(), "cadre1", PASSWORD).await.unwrap();
    let err = zhibu_client::fetch_my_points(&phone, year()).await.unwrap_err();
    assert!(matches!(err, zhibu_client::ClientError::NotAllowed(_)), "{err:?}");
    assert!(!err.to_string().contains("同步"), "{err}");
    let run = zhibu(dir.path(), &["me"]).await;
    assert!(!run.stderr.contains("rebuild"), "{}", run.stderr);
}
