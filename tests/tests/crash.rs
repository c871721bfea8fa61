//! The server killed (SIGKILL) while phones sync, many times: after each restart every change
//! it acknowledged is there and the database is intact; in the end the phones converge. And
//! two server processes on one PostgreSQL database lose nothing under concurrent pushes.

use std::time::Duration;

use automerge::{ChangeHash, ReadDoc};
use zhibu_schema::mapping;
use zhibu_server::{Config, Db};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, ServerProcess, TestDb, backends, fixture};

const PROGRAM: &str = env!("CARGO_BIN_EXE_zhibu-server-under-test");

async fn seeded(backend: Backend) -> Option<TestDb> {
    let db = TestDb::create(backend).await?;
    let state = zhibu_server::state(Config::for_tests(db.url.clone())).await.expect("state");
    fixture::seed(&state, zhibu_server::api::this_year()).await.expect("seed");
    state.db.pool.close().await;
    Some(db)
}

async fn token(server: &ServerProcess, user: &str) -> String {
    let r = server
        .http
        .post(format!("{}/v1/auth/login", server.url))
        .json(&serde_json::json!({"username": user, "password": zhibu_tests::PASSWORD}))
        .send()
        .await
        .expect("login");
    let v: serde_json::Value = r.json().await.expect("json");
    v["token"].as_str().expect("token").to_owned()
}

async fn kill_while_syncing(backend: Backend) {
    let Some(db) = seeded(backend).await else { return };
    let mut server = ServerProcess::start(PROGRAM, &db.url);
    let accounts = [("cadre1", "v1"), ("cadre2", "v1"), ("cadre3", "v2")];
    let mut phones = Vec::new();
    for (i, (user, village)) in accounts.iter().enumerate() {
        let t = token(&server, user).await;
        phones.push((user.to_string(), RawPhone::new(&server, &t, &format!("crash-phone-{i}"), village)));
    }
    let mut acknowledged: Vec<(String, Vec<ChangeHash>)> = Vec::new();
    for round in 0..6 {
        // Phones edit and sync concurrently; the server dies at a random moment once some of
        // their pushes were acknowledged (so that the round checks something, however slow
        // the build).
        let url = server.url.clone();
        let kill_after = Duration::from_millis(fastrand::u64(0..300));
        let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (user, mut phone) in phones.drain(..) {
            let srv = zhibu_tests::process::Remote::new(&url, phone_year(&phone));
            let acks = acks.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..200 {
                    phone.award(&user, n);
                    match phone.sync(&srv).await {
                        Ok(()) => {
                            acked = phone.doc.get_heads();
                            acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(e) if e.status == 0 => break,
                        Err(e) => panic!("refused: {e:?}"),
                    }
                }
                (user, phone, acked)
            }));
        }
        let started = std::time::Instant::now();
        while acks.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            assert!(started.elapsed() < Duration::from_secs(120), "round {round}: no push was acknowledged");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(kill_after).await;
        server.kill();
        for t in tasks {
            let (user, phone, acked) = t.await.expect("phone task");
            acknowledged.push((phone.village.clone(), acked));
            phones.push((user, phone));
        }
        // Restart: every acknowledged change is there, and the database is sound.
        server = ServerProcess::start(PROGRAM, &db.url);
        let check = Db::connect(&db.url).await.expect("connect");
        for (village, heads) in &acknowledged {
            let key = zhibu_server::db::documents::DocKey {
                township: "t1".into(),
                village: zhibu_schema::VillageId::parse(village).expect("id"),
                year: server.year,
            };
            let doc = check.load_doc(&key).await.expect("loads").doc;
            for h in heads {
                assert!(
                    doc.get_change_by_hash(h).is_some(),
                    "round {round}: acknowledged change {h} of {village} lost"
                );
            }
        }
        if backend == Backend::Sqlite {
            let row: (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&check.pool).await.expect("check");
            assert_eq!(row.0, "ok");
        }
        check.pool.close().await;
    }
    // The phones resume and converge with the server.
    for (_, phone) in &mut phones {
        phone.sync(&server).await.expect("resumes");
    }
    for (_, phone) in &mut phones {
        phone.sync(&server).await.expect("settles");
    }
    let v1: Vec<_> = phones.iter().filter(|(_, p)| p.village == "v1").map(|(_, p)| p.doc.get_heads()).collect();
    assert_eq!(v1[0], v1[1], "both v1 phones end with the same document");
}
backends!(killing_the_server_loses_no_acknowledged_change, kill_while_syncing);

fn phone_year(phone: &RawPhone) -> zhibu_schema::Year {
    phone.year()
}

/// Syncs as a phone does when the server says the village is busy (409 `busy`: the other
/// process's pushes to the same document kept winning its version): again a moment later.
async fn push_until_taken(phone: &mut RawPhone, server: &impl zhibu_tests::Server, what: &str) {
    for attempt in 1..=20 {
        match phone.sync(server).await {
            Ok(()) => return,
            Err(r) if r.status == 409 => tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await,
            Err(r) => panic!("{what}: {r:?}"),
        }
    }
    panic!("{what}: still busy after 20 tries");
}

async fn two_processes() {
    let Some(db) = seeded(Backend::Postgres).await else { return };
    let a = ServerProcess::start(PROGRAM, &db.url);
    let b = ServerProcess::start(PROGRAM, &db.url);
    let ta = token(&a, "cadre1").await;
    let tb = token(&b, "cadre2").await;
    let mut pa = RawPhone::new(&a, &ta, "two-proc-a", "v1");
    let mut pb = RawPhone::new(&b, &tb, "two-proc-b", "v1");
    let (ra, rb) =
        (zhibu_tests::process::Remote::new(&a.url, a.year), zhibu_tests::process::Remote::new(&b.url, b.year));
    let ha = tokio::spawn(async move {
        let mut ids = Vec::new();
        for n in 0..30 {
            ids.push(pa.award("cadre1", n));
            push_until_taken(&mut pa, &ra, "push through server a").await;
        }
        (pa, ids)
    });
    let hb = tokio::spawn(async move {
        let mut ids = Vec::new();
        for n in 0..30 {
            ids.push(pb.award("cadre2", n));
            push_until_taken(&mut pb, &rb, "push through server b").await;
        }
        (pb, ids)
    });
    let (mut pa, ia) = ha.await.expect("a");
    let (mut pb, ib) = hb.await.expect("b");
    pa.sync(&a).await.expect("settle a");
    pb.sync(&b).await.expect("settle b");
    pa.sync(&a).await.expect("a learns b's last edits");
    let check = Db::connect(&db.url).await.expect("connect");
    let key = zhibu_server::db::documents::DocKey {
        township: "t1".into(),
        village: zhibu_schema::VillageId::parse("v1").expect("id"),
        year: a.year,
    };
    let records = mapping::read(&check.load_doc(&key).await.expect("loads").doc).expect("reads").doc;
    for id in ia.iter().chain(&ib) {
        assert!(records.points.contains_key(id), "edit {id} lost");
    }
    assert_eq!(pa.doc.get_heads(), pb.doc.get_heads());
    check.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_lose_nothing() {
    two_processes().await
}

/// Stopped as systemd stops it (SIGTERM), the server leaves its SQLite database whole in its
/// file: no write-ahead log beside it that a restored copy would have replayed onto it (README
/// "Backups").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_leaves_its_sqlite_database_in_one_file() {
    let Some(db) = seeded(Backend::Sqlite).await else { return };
    let mut server = ServerProcess::start(PROGRAM, &db.url);
    let t = token(&server, "cadre1").await;
    let mut phone = RawPhone::new(&server, &t, "stop-phone", "v1");
    phone.award("cadre1", 1);
    phone.sync(&server).await.expect("push");
    let wal = db.dir.path().join("zhibu.db-wal");
    assert!(std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0), "the push went to the log first");
    assert!(server.stop(), "the server stops by itself on SIGTERM");
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "the log is folded into the database at shutdown");
    // The file alone holds what was acknowledged.
    let copy = db.dir.path().join("copy.db");
    std::fs::copy(db.dir.path().join("zhibu.db"), &copy).expect("copy");
    let url = format!("sqlite://{}", copy.display());
    let state = zhibu_server::state(Config::for_tests(url)).await.expect("the copy opens");
    let key = zhibu_server::db::documents::DocKey {
        township: "t1".into(),
        village: zhibu_schema::VillageId::parse("v1").expect("id"),
        year: zhibu_server::api::this_year(),
    };
    let loaded = state.db.load_doc(&key).await.expect("load");
    assert_eq!(loaded.doc.get_heads(), phone.doc.get_heads());
}
