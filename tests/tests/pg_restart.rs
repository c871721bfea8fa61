//! PostgreSQL stopped and started again under a load of syncing phones, the server left
//! running: while the database is gone every request is answered 503 with the JSON error body
//! (never 500, never a dropped connection) and `/healthz` says 503; once it is back, without
//! restarting the server, `/healthz` is 200, the phones sync again, and every change the server
//! acknowledged before, during or after is in the database.
//!
//! Runs on a private cluster (initdb + pg_ctl in a temporary folder), when the machine has
//! PostgreSQL's programs and `ZHIBU_TEST_POSTGRES` is set (as in CI).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use automerge::{ChangeHash, ReadDoc};
use serde_json::Value;
use sqlx::{AnyConnection, Connection, Executor};
use zhibu_server::db::documents::DocKey;
use zhibu_server::{Config, Db};
use zhibu_tests::pg_cluster::PgCluster;
use zhibu_tests::process::Remote;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{ServerProcess, fixture};

const PROGRAM: &str = env!("CARGO_BIN_EXE_zhibu-server-under-test");

/// Statuses the phones saw, by phase.
#[derive(Debug, Default)]
struct Seen {
    by_phase: BTreeMap<(&'static str, u16), usize>,
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    match http.get(url).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// Polls `/healthz` until it answers `want`; panics after `limit`.
async fn health_becomes(http: &reqwest::Client, base: &str, want: u16, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = get(http, &format!("{base}/healthz")).await;
        if status == want {
            return body;
        }
        assert!(start.elapsed() < limit, "/healthz still {status} after {limit:?}, want {want}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_unavailable(what: &str, status: u16, body: &Value) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(body["error"]["code"], "unavailable", "{what}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_answers_503_and_recovers_without_a_server_restart() {
    if std::env::var("ZHIBU_TEST_POSTGRES").is_err() {
        zhibu_tests::skipped(
            "PostgreSQL restart test (set ZHIBU_TEST_POSTGRES to run it; it starts its own cluster)",
            true,
        );
        return;
    }
    let cluster = match tokio::task::spawn_blocking(PgCluster::start).await.expect("task") {
        Ok(c) => c,
        Err(why) => {
            zhibu_tests::skipped(&format!("PostgreSQL restart test: {why}"), true);
            return;
        }
    };
    sqlx::any::install_default_drivers();
    let mut admin = AnyConnection::connect(&cluster.url("postgres")).await.expect("connect to the cluster");
    admin.execute("CREATE DATABASE zhibu").await.expect("create database");
    admin.close().await.expect("close");
    let url = cluster.url("zhibu");
    let state = zhibu_server::state(Config::for_tests(url.clone())).await.expect("state");
    let year = zhibu_server::api::this_year();
    fixture::seed(&state, year).await.expect("seed");
    state.db.pool.close().await;

    let server = ServerProcess::start(PROGRAM, &url);
    let http = zhibu_tests::http().timeout(Duration::from_secs(60)).build().expect("client");
    health_becomes(&http, &server.url, 200, Duration::from_secs(5)).await;
    let remote = Remote::new(&server.url, year);
    let mut tokens = BTreeMap::new();
    for user in ["cadre1", "cadre2", "cadre3"] {
        let r = http
            .post(format!("{}/v1/auth/login", server.url))
            .json(&serde_json::json!({"username": user, "password": zhibu_tests::PASSWORD}))
            .send()
            .await
            .expect("login");
        let v: Value = r.json().await.expect("json");
        tokens.insert(user, v["token"].as_str().expect("token").to_owned());
    }

    // The load: three phones edit and sync without pause, noting what was acknowledged.
    let phase: Arc<Mutex<&'static str>> = Arc::new(Mutex::new("before"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, (user, village)) in [("cadre1", "v1"), ("cadre2", "v1"), ("cadre3", "v2")].into_iter().enumerate() {
        let mut phone = RawPhone::new(&remote, &tokens[user], &format!("pg-restart-{i}"), village);
        let (remote, phase, seen, stop) = (remote.clone(), phase.clone(), seen.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<ChangeHash> = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                phone.award(user, n);
                n += 1;
                // A sync counts in the phase it started in.
                let now = *phase.lock().expect("lock");
                let result = phone.sync(&remote).await;
                let status = match &result {
                    Ok(()) => 200,
                    Err(e) => e.status,
                };
                *seen.lock().expect("lock").by_phase.entry((now, status)).or_default() += 1;
                match result {
                    Ok(()) => acked = phone.doc.get_heads(),
                    Err(e) if e.status == 503 => {
                        assert_eq!(e.body["error"]["code"], "unavailable", "{e:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("{user} in phase {now}: {e:?}"),
                }
            }
            (phone, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // PostgreSQL goes away at once, mid-query.
    *phase.lock().expect("lock") = "down";
    tokio::task::block_in_place(|| cluster.stop_now()).expect("stop PostgreSQL");
    let body = health_becomes(&http, &server.url, 503, Duration::from_secs(10)).await;
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    // Requests of every kind get 503 with the error body, not 500 and not a dropped connection.
    let probes = [
        format!("{}/v1/catalog", server.url),
        format!("{}/v1/villages/v1/years/{year}/doc", server.url),
        format!("{}/v1/townships/t1/report?year={year}", server.url),
    ];
    let mut probe_tasks = Vec::new();
    for p in probes {
        let (http, token) = (http.clone(), tokens["cadre1"].clone());
        probe_tasks.push(tokio::spawn(async move {
            let r = http.get(&p).bearer_auth(token).send().await.expect("the server answers");
            let status = r.status().as_u16();
            (p, status, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    let login = http
        .post(format!("{}/v1/auth/login", server.url))
        .json(&serde_json::json!({"username": "staff1", "password": zhibu_tests::PASSWORD}))
        .send()
        .await
        .expect("the server answers a login");
    let status = login.status().as_u16();
    assert_unavailable("login", status, &login.json().await.unwrap_or(Value::Null));
    for t in probe_tasks {
        let (p, status, body) = t.await.expect("probe");
        assert_unavailable(&p, status, &body);
    }
    let (status, body) = get(&http, &format!("{}/healthz", server.url)).await;
    assert_unavailable("/healthz", status, &body);
    // A sync that started while PostgreSQL was down waits for a connection up to the pool's
    // acquire timeout (10 s) and then gets 503; PostgreSQL stays down until one of them has, or
    // a sync started late in this phase could rightly succeed once it is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.lock().expect("lock").by_phase.contains_key(&("down", 503)) {
        assert!(tokio::time::Instant::now() < deadline, "no sync was refused while down: {:?}", seen.lock());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // PostgreSQL comes back; the same server process recovers by itself.
    *phase.lock().expect("lock") = "recovering";
    tokio::task::block_in_place(|| cluster.start_again()).unwrap_or_else(|e| panic!("{e}\n{}", cluster.log()));
    health_becomes(&http, &server.url, 200, Duration::from_secs(30)).await;
    *phase.lock().expect("lock") = "after";
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut phones = Vec::new();
    for t in tasks {
        phones.push(t.await.expect("phone task"));
    }

    let seen = std::mem::take(&mut seen.lock().expect("lock").by_phase);
    eprintln!("statuses by phase: {seen:?}");
    for ((phase, status), n) in &seen {
        assert!(matches!(status, 200 | 503), "{n} syncs got {status} in phase {phase}: {seen:?}");
    }
    assert!(seen.get(&("before", 200)).is_some_and(|n| *n > 0), "syncs went through before: {seen:?}");
    assert!(seen.get(&("down", 503)).is_some_and(|n| *n > 0), "syncs were refused while down: {seen:?}");
    assert!(seen.get(&("after", 200)).is_some_and(|n| *n > 0), "syncs went through after: {seen:?}");
    assert!(!seen.contains_key(&("after", 503)), "no refusal once /healthz is 200 again: {seen:?}");

    // Every acknowledged change is stored; the phones converge.
    for _ in 0..2 {
        for (phone, _) in &mut phones {
            phone.sync(&remote).await.expect("a last sync");
        }
    }
    let db = Db::connect(&url).await.expect("connect");
    for (phone, acked) in &phones {
        let key = DocKey {
            township: "t1".into(),
            village: zhibu_schema::VillageId::parse(&phone.village).expect("id"),
            year,
        };
        let doc = db.load_doc(&key).await.expect("load").doc;
        assert!(!acked.is_empty(), "{} had something acknowledged", phone.peer);
        for h in acked {
            assert!(doc.get_change_by_hash(h).is_some(), "acknowledged change {h} of {} lost", phone.peer);
        }
        assert_eq!(doc.get_heads(), phone.doc.get_heads(), "{} converged", phone.peer);
    }
    db.pool.close().await;
    drop(server);
}
