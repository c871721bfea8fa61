//! Pushes waiting for the SQLite writer share one transaction (group commit), each under a
//! savepoint of its own: a refused push is undone alone, the others in the same transaction
//! are kept, and each phone gets its own answer. Syncs that bring nothing new wait for the
//! writer the same way.

use sqlx::Row;
use zhibu_server::db::documents::DocKey;
use zhibu_tests::fast_phone::FastPhone;
use zhibu_tests::{Backend, TestApp};

async fn version(app: &TestApp, village: &str) -> i64 {
    app.state.db.load_doc(&app.doc_key(village)).await.expect("loads").version
}

/// Takes the writer's turn and returns what gives it back once three writes wait for it (or a
/// minute has passed): they then go in one transaction. Run it beside the three syncs.
async fn hold_writer_for_three(app: &TestApp) -> impl std::future::Future<Output = ()> + '_ {
    let turn = app.state.gates.write().await.expect("SQLite has a writer turn");
    async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // The writer task holds the first write while it waits for its turn; two more queue.
        while app.state.writer.waiting() < 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(turn);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_sharing_a_transaction_are_kept_or_refused_alone() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let (t1, t3, tw) = (app.token("cadre1").await, app.token("cadre3").await, app.token("cadre-w").await);
    let mut a = FastPhone::new(&app, &t1, "phone-a", "v1");
    let mut b = FastPhone::new(&app, &t3, "phone-b", "v2");
    // w1's cadre presents changes under phone-a's actor, which is cadre1's once stored.
    let mut thief = FastPhone::new(&app, &tw, "phone-a", "w1");
    for p in [&mut a, &mut b, &mut thief] {
        p.sync(&app).await.expect("first sync");
    }
    a.award("v1-m01", "cadre1", 2);
    a.sync(&app).await.expect("binds phone-a to cadre1");

    let w1_version = version(&app, "w1").await;
    let kept_a = a.award("v1-m02", "cadre1", 2);
    let kept_b = b.award("v2-m01", "cadre3", 2);
    let stolen = thief.award("w1-m01", "cadre-w", 2);
    let release = hold_writer_for_three(&app).await;
    let (ra, rb, rt, ()) = tokio::join!(a.sync(&app), b.sync(&app), thief.sync(&app), release);
    assert!(app.state.writer.largest_batch() >= 3, "the three pushes shared a transaction");

    ra.expect("v1's push is kept");
    rb.expect("v2's push is kept");
    let refused = rt.expect_err("a change under another account's actor is refused");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["error"]["code"], "foreign_actor");

    assert!(app.records("v1").await.points.contains_key(&kept_a));
    assert!(app.records("v2").await.points.contains_key(&kept_b));
    assert!(!app.records("w1").await.points.contains_key(&stolen), "nothing of the refused push is stored");
    assert_eq!(version(&app, "w1").await, w1_version, "the refused push did not move w1 on");
    assert_eq!((app.point_rows("v1").await, app.point_rows("v2").await, app.point_rows("w1").await), (2, 1, 0));

    // The refused phone's account may still push under its own actor.
    let mut own = FastPhone::new(&app, &tw, "phone-w", "w1");
    own.sync(&app).await.expect("first sync");
    let id = own.award("w1-m01", "cadre-w", 2);
    own.sync(&app).await.expect("stored");
    assert!(app.records("w1").await.points.contains_key(&id));
}

/// When the device `peer` last synced the document `key`, if it ever did.
async fn device_sync(pool: &sqlx::AnyPool, key: &DocKey, peer: &str) -> Option<i64> {
    sqlx::query(
        "SELECT last_sync_at FROM devices WHERE township_id = $1 AND village_id = $2 AND year = $3 AND peer_id = $4",
    )
    .bind(&key.township)
    .bind(key.village.as_str())
    .bind(i64::from(key.year))
    .bind(peer)
    .fetch_optional(pool)
    .await
    .expect("devices")
    .map(|r| r.get::<i64, _>("last_sync_at"))
}

async fn last_sync(app: &TestApp, village: &str, peer: &str) -> i64 {
    device_sync(&app.state.db.pool, &app.doc_key(village), peer).await.expect("the device's row")
}

/// Phones that only pull (nothing new to push) still record their sync, through the writer
/// like any push: waiting together, they share one commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_without_changes_share_the_writers_transaction() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let (t1, t3, tw) = (app.token("cadre1").await, app.token("cadre3").await, app.token("cadre-w").await);
    // Three villages: syncs of one village wait for each other before the writer.
    let mut phones = [
        FastPhone::new(&app, &t1, "phone-a", "v1"),
        FastPhone::new(&app, &t3, "phone-b", "v2"),
        FastPhone::new(&app, &tw, "phone-c", "w1"),
    ];
    for p in &mut phones {
        p.sync(&app).await.expect("first sync");
    }
    let before = [
        last_sync(&app, "v1", "peer-phone-a").await,
        last_sync(&app, "v2", "peer-phone-b").await,
        last_sync(&app, "w1", "peer-phone-c").await,
    ];
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let release = hold_writer_for_three(&app).await;
    let [a, b, c] = &mut phones;
    let (ra, rb, rc, ()) = tokio::join!(a.sync(&app), b.sync(&app), c.sync(&app), release);
    for r in [ra, rb, rc] {
        r.expect("a sync with nothing new succeeds");
    }
    assert!(app.state.writer.largest_batch() >= 3, "the three syncs shared a transaction");
    let after = [
        last_sync(&app, "v1", "peer-phone-a").await,
        last_sync(&app, "v2", "peer-phone-b").await,
        last_sync(&app, "w1", "peer-phone-c").await,
    ];
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "each phone's sync is recorded: {before:?} then {after:?}");
    }
}

/// A server on SQLite and cadre1's phone "phone-a" for v1, synced once.
async fn app_and_synced_phone() -> (TestApp, FastPhone) {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let token = app.token("cadre1").await;
    let mut phone = FastPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    (app, phone)
}

/// The writer writes through an SQLite connection of its own, outside the pool: between pushes
/// every connection of the pool is free. When the pool closes, the writer closes its connection
/// too: the database is then held by no connection at all (SQLite folds its write-ahead log
/// back into the file and removes it when the last connection closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_has_its_own_connection_and_closes_it_with_the_pool() {
    let (app, mut phone) = app_and_synced_phone().await;
    let pool = &app.state.db.pool;
    let in_use = || pool.size() - u32::try_from(pool.num_idle()).expect("few");
    for member in ["v1-m01", "v1-m02", "v1-m03"] {
        phone.award(member, "cadre1", 2);
        phone.sync(&app).await.expect("stored");
        // The reply can reach the phone a moment before the request's task hands back a
        // connection it read with; one the writer kept would stay in use.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while in_use() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(in_use(), 0, "the writer holds no connection of the pool between pushes");
    }
    assert_eq!(app.point_rows("v1").await, 3);

    let file = app.state.db.sqlite_file.clone().expect("an SQLite file");
    let wal = file.with_file_name(format!("{}-wal", file.file_name().expect("a name").to_string_lossy()));
    assert!(wal.exists(), "{} is there while the database is open", wal.display());
    tokio::time::timeout(std::time::Duration::from_secs(10), pool.close()).await.expect("the pool closes");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while wal.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!wal.exists(), "the writer closed its connection when the pool closed");
}

/// Whether `peer`'s sync of v1 is stored, asked from a thread and runtime of its own (the
/// server's async threads may all be busy), for up to a minute.
fn stored_soon(pool: sqlx::AnyPool, key: DocKey, peer: &str) -> bool {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for _ in 0..6000 {
            if device_sync(&pool, &key, peer).await.is_some() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        false
    })
}

/// The writer works from a thread of its own: it stores what waits for it while every async
/// thread of the server is busy (under a burst, admitting pushes), instead of waiting for one
/// of them to come free after each of its statements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_stores_while_every_async_thread_is_busy() {
    let (app, _phone) = app_and_synced_phone().await;
    let key = app.doc_key("v1");
    let account: String = sqlx::query("SELECT account_id FROM devices WHERE peer_id = 'peer-phone-a'")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("the phone's device row")
        .get("account_id");

    // A device's sync waits for the writer, which waits for its turn, taken here.
    let turn = app.state.gates.write().await.expect("SQLite has a writer turn");
    let sender = zhibu_server::push::Contributor {
        account,
        device: Some("peer-busy".into()),
        sync_state: None,
        changes: Vec::new(),
        bind: Vec::new(),
    };
    let write = zhibu_server::push::Write { key: key.clone(), senders: vec![sender], update: None };
    let state = app.state.clone();
    let (started, queued) = tokio::sync::oneshot::channel();
    let stored = tokio::spawn(async move {
        let _ = started.send(());
        // Queued for the writer before its first wait.
        zhibu_server::writer::store(&state, write).await
    });
    queued.await.expect("the sync's task started");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    while app.state.writer.waiting() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // Both async threads busy until the sync is seen stored (or a minute has passed, when a
    // writer that needs them would store it only afterwards); the writer's turn given back
    // meanwhile. No time bound decides the outcome: only whether the store came first.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let seen = seen.clone();
            tokio::spawn(async move {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                while !seen.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                seen.load(std::sync::atomic::Ordering::SeqCst)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(turn);
    let (pool, peer, flag) = (app.state.db.pool.clone(), "peer-busy", seen.clone());
    let checked = std::thread::spawn(move || {
        let stored = stored_soon(pool, key, peer);
        flag.store(stored, std::sync::atomic::Ordering::SeqCst);
        stored
    });
    assert!(checked.join().expect("the check ran"), "the writer stored the sync while the async threads were busy");

    for b in busy {
        assert!(b.await.expect("busy task"), "the async threads were still busy when the store was seen");
    }
    assert!(stored.await.expect("the sync's task").expect("stored"));
}
