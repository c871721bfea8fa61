//! Login throttling and the audit log.
//!
//! Five failed logins of one account from one address (thirty from all addresses), or twenty
//! from one address, within fifteen minutes lock further attempts (even with the right
//! password) until the window ends: a 429 with the API
//! error body, a Chinese message saying how many minutes to wait and `Retry-After`; the login
//! page says the same. A success clears the account's count. The counts live in the database,
//! so a second server instance on it refuses too, and a burst of parallel attempts gets no more
//! password checks than the limit. The audit log records logins, refusals, throttling,
//! revocations and refused syncs, and never a password, a token or a member's name.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use zhibu_schema::mapping;
use zhibu_server::Config;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, PASSWORD, TestApp, TestDb, backends, fixture};

/// Status, `Retry-After` and body of a JSON login.
async fn login(app: &TestApp, url: &str, username: &str, password: &str) -> (u16, Option<u64>, Value) {
    let r = app
        .http
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, retry, r.json().await.expect("JSON body"))
}

fn assert_locked(what: &str, (status, retry, body): &(u16, Option<u64>, Value), minutes: u64) {
    assert_eq!(*status, 429, "{what}: {body}");
    assert_eq!(body["error"]["code"], "too_many_attempts", "{what}");
    assert_eq!(body["error"]["message"], format!("登录失败次数过多，请 {minutes} 分钟后再试"), "{what}");
    let retry = retry.unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!((minutes - 1) * 60 < retry && retry <= minutes * 60, "{what}: Retry-After {retry}");
}

/// Moves every counter's window back by `minutes`, as if that much time had passed.
async fn age_counters(app: &TestApp, minutes: i64) {
    sqlx::query("UPDATE login_throttle SET window_start = window_start - $1")
        .bind(minutes * 60_000)
        .execute(&app.state.db.pool)
        .await
        .expect("age counters");
}

async fn per_account(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let url = app.url.clone();
    for i in 1..=5 {
        let (status, _, body) = login(&app, &url, "cadre1", "wrong-password").await;
        assert_eq!(status, 401, "failure {i} is an ordinary refusal: {body}");
    }
    // The sixth attempt is refused without looking at the password, the right one included.
    assert_locked("sixth attempt", &login(&app, &url, "cadre1", PASSWORD).await, 15);
    // Other accounts from the same address are not affected.
    assert_eq!(login(&app, &url, "cadre2", PASSWORD).await.0, 200);
    // The login page says the same, in a page.
    let r = zhibu_tests::http()
        .build()
        .expect("client")
        .post(format!("{url}/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("username=cadre1&password={PASSWORD}"))
        .send()
        .await
        .expect("page login");
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let page = r.text().await.expect("page");
    assert!(page.contains("登录失败次数过多，请 15 分钟后再试") && page.contains("value=\"cadre1\""), "{page}");

    // A second server instance on the same database refuses too: nothing is kept in memory.
    let other = app.another_instance().await;
    let other_url = other.remote.url.clone();
    assert_locked("through the second instance", &login(&app, &other_url, "cadre1", PASSWORD).await, 15);

    // Three minutes on, the message says twelve; when the window has ended, the login works.
    age_counters(&app, 3).await;
    assert_locked("three minutes later", &login(&app, &url, "cadre1", PASSWORD).await, 12);
    age_counters(&app, 13).await;
    assert_eq!(login(&app, &other_url, "cadre1", PASSWORD).await.0, 200, "the window has ended");
    drop(other);

    // A success clears the account's count: four failures, a success, then five more failures
    // before the lock.
    for _ in 0..4 {
        assert_eq!(login(&app, &url, "cadre3", "wrong").await.0, 401);
    }
    assert_eq!(login(&app, &url, "cadre3", PASSWORD).await.0, 200);
    for i in 1..=5 {
        assert_eq!(login(&app, &url, "cadre3", "wrong").await.0, 401, "failure {i} after the success");
    }
    assert_eq!(login(&app, &url, "cadre3", PASSWORD).await.0, 429);

    // Unknown names are counted like real ones, so the answers do not tell which exist.
    for _ in 0..5 {
        assert_eq!(login(&app, &url, "nobody", "wrong").await.0, 401);
    }
    assert_eq!(login(&app, &url, "nobody", "wrong").await.0, 429);

    // The table holds digests, not the names.
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT subject FROM login_throttle").fetch_all(&app.state.db.pool).await.expect("rows");
    assert!(!rows.is_empty() && rows.iter().all(|(s,)| s.len() == 64 && !s.contains("cadre")), "{rows:?}");
}
backends!(five_failures_lock_an_account_until_the_window_ends, per_account);

/// A member locked out by wrong guesses calls the township, whose administrator sets a new
/// password: the member logs in with it at once, from the address that was locked too, while
/// the wrong guesses of others stay counted for their addresses.
async fn unlocked_by_the_administrator(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let url = app.url.clone();
    for _ in 1..=5 {
        assert_eq!(login(&app, &url, "v1-m01", "wrong-password").await.0, 401);
    }
    assert_locked("locked", &login(&app, &url, "v1-m01", PASSWORD).await, 15);
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu-server-under-test"))
        .args(["--database-url", &app.db.url, "admin", "set-password", "v1-m01"])
        .env("ZHIBU_PASSWORD", "a-new-password")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _, body) = login(&app, &url, "v1-m01", "a-new-password").await;
    assert_eq!(status, 200, "{body}");
    // Unlocked is not unlimited: five more wrong guesses lock it again.
    for _ in 1..=5 {
        assert_eq!(login(&app, &url, "v1-m01", "wrong-password").await.0, 401);
    }
    assert_locked("locked again", &login(&app, &url, "v1-m01", "a-new-password").await, 15);
}
backends!(an_administrators_new_password_lifts_the_lock, unlocked_by_the_administrator);

async fn per_address(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let url = app.url.clone();
    // Twenty failures spread over many names (four each, under the account limit).
    for i in 0..20 {
        let (status, _, _) = login(&app, &url, &format!("guess-{}", i / 4), "wrong").await;
        assert_eq!(status, 401, "failure {i}");
    }
    // Now every login from this address waits, the right password of another account too.
    assert_locked("staff1 from the same address", &login(&app, &url, "staff1", PASSWORD).await, 15);
    age_counters(&app, 16).await;
    assert_eq!(login(&app, &url, "staff1", PASSWORD).await.0, 200);

    // Successes do not count against the address: an office logs in all day.
    for _ in 0..25 {
        assert_eq!(login(&app, &url, "staff2", PASSWORD).await.0, 200);
    }
}
backends!(twenty_failures_lock_an_address, per_address);

/// A login through the reverse proxy at 127.0.0.1, for the client `client`.
async fn login_via_proxy(app: &TestApp, username: &str, password: &str, client: &str) -> u16 {
    let r = app
        .http
        .post(format!("{}/v1/auth/login", app.url))
        .header("X-Forwarded-For", client)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("login request");
    r.status().as_u16()
}

/// Behind a trusted proxy every client arrives from the proxy's address; the address it names
/// is the one counted, so one client's failures do not lock the whole township out. From an
/// untrusted peer the header changes nothing.
async fn behind_a_proxy(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else { return };
    let app = TestApp::start_configured(db, |c| c.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")]).await;
    for i in 0..20 {
        assert_eq!(login_via_proxy(&app, &format!("guess-{}", i / 4), "wrong", "203.0.113.7").await, 401);
    }
    assert_eq!(login_via_proxy(&app, "staff1", PASSWORD, "203.0.113.7").await, 429, "that client is locked");
    assert_eq!(login_via_proxy(&app, "staff1", PASSWORD, "198.51.100.9").await, 200, "another client is not");
    // A client cannot slip out of its lock by naming another address before the proxy's entry.
    assert_eq!(login_via_proxy(&app, "staff1", PASSWORD, "198.51.100.9, 203.0.113.7").await, 429);

    // Whoever knows a cadre's name cannot lock the cadre out from elsewhere: five failures lock
    // the name for the address they came from only.
    for _ in 0..5 {
        assert_eq!(login_via_proxy(&app, "cadre1", "wrong", "192.0.2.1").await, 401);
    }
    assert_eq!(login_via_proxy(&app, "cadre1", PASSWORD, "192.0.2.1").await, 429, "locked from there");
    assert_eq!(login_via_proxy(&app, "cadre1", PASSWORD, "192.0.2.2").await, 200, "not from the cadre's phone");
    // Failures of one name from many addresses lock it everywhere at thirty, but for the
    // addresses the account logged in from: the cadre's own phone still gets in.
    assert_eq!(login_via_proxy(&app, "cadre2", PASSWORD, "192.0.2.50").await, 200, "the cadre's phone");
    for i in 0..30 {
        let client = format!("192.0.2.{}", 10 + i / 5);
        assert_eq!(login_via_proxy(&app, "cadre2", "wrong", &client).await, 401, "failure {i}");
    }
    assert_eq!(login_via_proxy(&app, "cadre2", PASSWORD, "192.0.2.99").await, 429, "guessing spread out");
    assert_eq!(login_via_proxy(&app, "cadre2", PASSWORD, "192.0.2.50").await, 200, "from where it logged in before");
    // There it still has its own five.
    for _ in 0..5 {
        assert_eq!(login_via_proxy(&app, "cadre2", "wrong", "192.0.2.50").await, 401);
    }
    assert_eq!(login_via_proxy(&app, "cadre2", PASSWORD, "192.0.2.50").await, 429, "five from there");
    // The counters of ended windows are swept at the next success; the addresses an account
    // logged in from are kept (for 90 days).
    age_counters(&app, 60).await;
    assert_eq!(login_via_proxy(&app, "cadre3", PASSWORD, "192.0.2.77").await, 200);
    let an_hour_ago = zhibu_server::db::now_ms() - 3_600_000 + 60_000;
    let old: std::collections::BTreeSet<String> =
        sqlx::query("SELECT scope FROM login_throttle WHERE window_start < $1")
            .bind(an_hour_ago)
            .fetch_all(&app.state.db.pool)
            .await
            .expect("rows")
            .iter()
            .map(|r| sqlx::Row::get(r, "scope"))
            .collect();
    assert_eq!(old, ["known".to_owned()].into(), "of the rows an hour old, only the known addresses stay");

    // Without trusted proxies the header is the client's own word, and is not believed.
    let Some(direct) = TestApp::start(backend).await else { return };
    for i in 0..20 {
        let client = format!("203.0.113.{i}");
        assert_eq!(login_via_proxy(&direct, &format!("guess-{}", i / 4), "wrong", &client).await, 401);
    }
    assert_eq!(login_via_proxy(&direct, "staff1", PASSWORD, "198.51.100.9").await, 429, "one address: locked");
}
backends!(a_trusted_proxy_names_the_client, behind_a_proxy);

async fn parallel_burst(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (http, url) = (app.http.clone(), app.url.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/v1/auth/login"))
                .json(&json!({"username": "admin", "password": "guess"}))
                .send()
                .await
                .expect("login");
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + locked, 30, "{statuses:?}");
    assert!(checked <= 5, "a burst got {checked} password checks: {statuses:?}");
}
backends!(a_parallel_burst_gets_no_more_checks_than_the_limit, parallel_burst);

/// The real program with its log at `info` going to a file.
struct LoggedServer {
    child: std::process::Child,
    url: String,
    log: std::path::PathBuf,
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_logged(db: &TestDb) -> LoggedServer {
    let log = db.dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhibu-server-under-test"))
        .args(["--listen", "127.0.0.1:0", "--database-url", &db.url])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("server starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("address line");
    let start = line.find("http://").expect("address");
    let url = line[start..].split_whitespace().next().expect("url").trim_end_matches('/').to_owned();
    LoggedServer { child, url, log }
}

async fn audit(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else { return };
    let state = zhibu_server::state(Config::for_tests(db.url.clone())).await.expect("state");
    let year = zhibu_server::api::this_year();
    fixture::seed(&state, year).await.expect("seed");
    let names: Vec<String> = {
        let key = zhibu_server::db::documents::DocKey {
            township: "t1".into(),
            village: zhibu_schema::VillageId::parse("v1").expect("id"),
            year,
        };
        let doc = state.db.load_doc(&key).await.expect("load").doc;
        mapping::read(&doc).expect("read").doc.members.values().map(|m| m.name.to_string()).collect()
    };
    state.db.pool.close().await;
    let server = start_logged(&db);
    let remote = zhibu_tests::process::Remote::new(&server.url, year);
    let http = zhibu_tests::http().timeout(Duration::from_secs(30)).build().expect("client");
    let post_login = |username: &'static str, password: &'static str| {
        let (http, url) = (http.clone(), server.url.clone());
        async move {
            let r = http
                .post(format!("{url}/v1/auth/login"))
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .expect("login");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    // A password typed into the name field, a wrong password, throttling, logins.
    let typed_password = "secret-typed-as-name-42";
    assert_eq!(post_login("secret-typed-as-name-42", PASSWORD).await.0, 401);
    for _ in 0..6 {
        post_login("cadre2", "wrong-password-xyz").await;
    }
    let (status, body) = post_login("cadre1", PASSWORD).await;
    assert_eq!(status, 200);
    let cadre1 = body["token"].as_str().expect("token").to_owned();
    let cadre3 = post_login("cadre3", PASSWORD).await.1["token"].as_str().expect("token").to_owned();
    let admin = post_login("admin", PASSWORD).await.1["token"].as_str().expect("token").to_owned();

    // A refused sync (403: another village), a rule broken (422), a revocation, a logout.
    let mut intruder = RawPhone::new(&remote, &cadre3, "audit-intruder", "v1");
    assert_eq!(intruder.sync(&remote).await.expect_err("not cadre3's village").status, 403);
    let mut phone = RawPhone::new(&remote, &cadre1, "audit-phone", "v1");
    phone.sync(&remote).await.expect("first sync");
    let bad = json!({"kind": "picnic", "held_on": format!("{year}-03-01"), "topic": names[0]});
    phone.edit("坏记录", |tx| mapping::put_at(tx, &["meetings", "0190a6b2-0000-7000-8000-00000000aaaa"], &bad));
    assert_eq!(phone.sync(&remote).await.expect_err("invalid").status, 422);
    let r = http
        .post(format!("{}/v1/admin/accounts/v1-m01/revoke", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    let r = http.post(format!("{}/v1/auth/logout", server.url)).bearer_auth(&cadre3).send().await.expect("logout");
    assert_eq!(r.status(), 200);

    let log_path = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(&log_path).expect("log");
    for event in [
        "event=\"login\"",
        "event=\"login_refused\"",
        "event=\"login_throttled\"",
        "event=\"tokens_revoked\"",
        "event=\"logout\"",
        "event=\"sync_refused\"",
    ] {
        assert!(log.contains(event), "the audit log lacks {event}:\n{log}");
    }
    let audit_lines: Vec<&str> = log.lines().filter(|l| l.contains(" audit:")).collect();
    assert!(audit_lines.iter().any(|l| l.contains("login_throttled") && l.contains("cadre2")), "{log}");
    assert!(audit_lines.iter().any(|l| l.contains("status=403") && l.contains("cadre3")), "{log}");
    assert!(audit_lines.iter().any(|l| l.contains("status=422") && l.contains("cadre1")), "{log}");
    assert!(audit_lines.iter().all(|l| l.contains("127.0.0.1")), "every audit line has the address: {log}");
    for secret in [PASSWORD, "wrong-password-xyz", typed_password, &cadre1, &cadre3, &admin] {
        assert!(!log.contains(secret), "the log holds a secret ({secret}):\n{log}");
    }
    for name in &names {
        assert!(!log.contains(name.as_str()), "the log holds a member's name ({name}):\n{log}");
    }
}
backends!(the_audit_log_records_who_and_never_secrets, audit);

/// The throttle keys its digests with a secret of the server's own, kept in the database: every
/// server process on it counts under the same key, and no name or address can be found from a
/// row by hashing guesses.
async fn keyed(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let other = zhibu_server::Db::connect(&app.db.url).await.expect("a second process");
    assert_eq!(app.state.db.throttle_key, other.throttle_key, "one key for every process");
    assert_ne!(*app.state.db.throttle_key, [0u8; 32]);
    assert_eq!(login(&app, &app.url, "cadre1", "wrong").await.0, 401);
    let plain = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"account\0cadre1");
        hex::encode(h.finalize())
    };
    let rows: Vec<String> = sqlx::query("SELECT subject FROM login_throttle")
        .fetch_all(&app.state.db.pool)
        .await
        .expect("rows")
        .iter()
        .map(|r| sqlx::Row::get(r, "subject"))
        .collect();
    assert!(!rows.is_empty() && !rows.contains(&plain), "{rows:?}");
}
backends!(the_throttle_keys_its_digests_with_the_servers_secret, keyed);
