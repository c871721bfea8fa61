//! Fast pushes that wait for the same document together are admitted and stored together: one
//! new version of the document, each change recorded under the account and device that sent
//! it, each phone answered with the others' changes too. When one of them cannot be stored, each
//! is admitted alone: the others are kept, and only that one is refused.

use sqlx::Row;
use zhibu_schema::mapping;
use zhibu_tests::fast_phone::FastPhone;
use zhibu_tests::raw_phone::Refused;
use zhibu_tests::{Backend, TestApp};

async fn version(app: &TestApp, village: &str) -> i64 {
    app.state.db.load_doc(&app.doc_key(village)).await.expect("loads").version
}

/// Holds v1 (as a push being stored would) and returns what lets it go once `n` fast pushes
/// wait for it (or a minute has passed). Run it beside the syncs.
async fn hold_v1_until(app: &TestApp, n: usize) -> impl std::future::Future<Output = ()> + '_ {
    let key = app.doc_key("v1");
    let held = app.state.gates.document(&key).await;
    async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while app.state.together.waiting(&key) < n && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(held);
    }
}

/// Syncs two phones while v1 is held until both wait for it: their results, and by how many
/// versions v1 moved on.
async fn sync_two_while_v1_held(
    app: &TestApp,
    a: &mut FastPhone,
    b: &mut FastPhone,
) -> (Result<(), Refused>, Result<(), Refused>, i64) {
    let before = version(app, "v1").await;
    let release = hold_v1_until(app, 2).await;
    let (ra, rb, ()) = tokio::join!(a.sync(app), b.sync(app), release);
    (ra, rb, version(app, "v1").await - before)
}

/// Who the changes table says sent a point entry's change: (account, device).
async fn sender_of(app: &TestApp, phone: &FastPhone) -> Vec<(String, String)> {
    let key = app.doc_key("v1");
    let mut out = Vec::new();
    for change in phone.doc.get_changes(&[]) {
        if change.actor_id().to_bytes() == phone.doc.get_actor().to_bytes() {
            let row = sqlx::query(
                "SELECT account_id, peer_id FROM changes WHERE township_id = $1 AND village_id = $2 AND year = $3 \
                 AND hash = $4",
            )
            .bind(&key.township)
            .bind(key.village.as_str())
            .bind(i64::from(key.year))
            .bind(change.hash().to_string())
            .fetch_one(&app.state.db.pool)
            .await
            .expect("the change is stored");
            out.push((row.get("account_id"), row.get("peer_id")));
        }
    }
    out
}

async fn pushes_waiting_together_are_stored_as_one(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (t1, t2) = (app.token("cadre1").await, app.token("cadre2").await);
    let mut a = FastPhone::new(&app, &t1, "phone-a", "v1");
    let mut b = FastPhone::new(&app, &t2, "phone-b", "v1");
    let mut c = FastPhone::new(&app, &t1, "phone-c", "v1");
    for p in [&mut a, &mut b, &mut c] {
        p.sync(&app).await.expect("first sync");
    }
    let before = version(&app, "v1").await;
    let ids = [a.award("v1-m01", "cadre1", 2), b.award("v1-m02", "cadre2", 3), c.award("v1-m03", "cadre1", 4)];

    let release = hold_v1_until(&app, 3).await;
    let (ra, rb, rc, ()) = tokio::join!(a.sync(&app), b.sync(&app), c.sync(&app), release);
    ra.expect("a's push is stored");
    rb.expect("b's push is stored");
    rc.expect("c's push is stored");
    assert_eq!(app.state.together.largest(), 3, "the three were stored together");
    assert_eq!(version(&app, "v1").await, before + 1, "as one new version of the document");

    let stored = app.records("v1").await;
    for (phone, id) in [(&a, &ids[0]), (&b, &ids[1]), (&c, &ids[2])] {
        assert!(stored.points.contains_key(id));
        // Each phone's answer brought the others' entries: all three phones hold all three.
        let held = mapping::read(&phone.doc).expect("reads").doc;
        assert!(ids.iter().all(|id| held.points.contains_key(id)), "{} holds every entry", phone.peer);
        assert_eq!(phone.known, phone.doc.get_heads(), "{} knows the server's heads", phone.peer);
    }
    assert_eq!(app.point_rows("v1").await, 3);
    // Each change under the account and device that sent it.
    assert_eq!(sender_of(&app, &a).await, [("cadre1".to_owned(), "peer-phone-a".to_owned())]);
    assert_eq!(sender_of(&app, &b).await, [("cadre2".to_owned(), "peer-phone-b".to_owned())]);
    assert_eq!(sender_of(&app, &c).await, [("cadre1".to_owned(), "peer-phone-c".to_owned())]);
    assert_eq!(app.state.together.waiting(&app.doc_key("v1")), 0, "nothing left waiting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_waiting_together_are_stored_as_one_on_sqlite() {
    pushes_waiting_together_are_stored_as_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_waiting_together_are_stored_as_one_on_postgres() {
    pushes_waiting_together_are_stored_as_one(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_cannot_be_stored_is_refused_alone_and_the_others_are_kept() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let (t1, t2) = (app.token("cadre1").await, app.token("cadre2").await);
    let mut a = FastPhone::new(&app, &t1, "phone-a", "v1");
    let mut b = FastPhone::new(&app, &t2, "phone-b", "v1");
    for p in [&mut a, &mut b] {
        p.sync(&app).await.expect("first sync");
    }
    a.award("v1-m01", "cadre1", 1);
    a.sync(&app).await.expect("binds phone-a to cadre1");

    // A rule broken (the rule allows 1 to 5 points): the pushes cannot be admitted as one.
    let kept_a = a.award("v1-m02", "cadre1", 2);
    let broken = b.award("v1-m03", "cadre2", 9);
    let (ra, rb, moved) = sync_two_while_v1_held(&app, &mut a, &mut b).await;
    ra.expect("a's push is stored");
    let refused = rb.expect_err("b's push breaks a rule");
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    let stored = app.records("v1").await;
    assert!(stored.points.contains_key(&kept_a) && !stored.points.contains_key(&broken));
    assert_eq!(moved, 1, "only a's push moved the document on");

    // Changes under phone-a's actor (cadre1's) from cadre2's phone: admitted as one, refused by
    // the database when binding the actor, then each alone.
    let mut c = FastPhone::new(&app, &t1, "phone-c", "v1");
    c.sync(&app).await.expect("first sync");
    let mut thief = FastPhone::new(&app, &t2, "phone-a", "v1");
    thief.sync(&app).await.expect("first sync");
    let kept_c = c.award("v1-m04", "cadre1", 3);
    let stolen = thief.award("v1-m05", "cadre2", 3);
    let (rc, rt, moved) = sync_two_while_v1_held(&app, &mut c, &mut thief).await;
    rc.expect("c's push is stored");
    let refused = rt.expect_err("a change under another account's actor");
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("foreign_actor")));
    let stored = app.records("v1").await;
    assert!(stored.points.contains_key(&kept_c) && !stored.points.contains_key(&stolen));
    assert_eq!(moved, 1, "only c's push moved the document on");
    assert_eq!(app.point_rows("v1").await, 3);
    assert_eq!(app.state.together.largest(), 0, "nothing was stored together");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_phone_hangs_up_before_its_turn_leaves_the_queue() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always there");
    let token = app.token("cadre1").await;
    let mut a = FastPhone::new(&app, &token, "phone-a", "v1");
    a.sync(&app).await.expect("first sync");
    let dropped = a.award("v1-m01", "cadre1", 2);
    let key = app.doc_key("v1");
    let held = app.state.gates.document(&key).await;
    // The phone gives up while the document is held: its request ends, its connection closes.
    let request = a.request().encode();
    let hang_up = zhibu_tests::http().timeout(std::time::Duration::from_millis(500)).build().expect("client");
    let sent = hang_up
        .post(format!("{}/v1/sync", app.url))
        .bearer_auth(&token)
        .header("X-Peer-Id", &a.peer)
        .header("Content-Type", "application/cbor")
        .body(request)
        .send();
    let waited = async {
        let started = std::time::Instant::now();
        while app.state.together.waiting(&key) == 0 {
            // Bounded: a request that timed out before it reached the queue is said below.
            if started.elapsed() > std::time::Duration::from_secs(30) {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    };
    let (sent, queued) = tokio::join!(sent, waited);
    assert!(queued, "the push reached the queue before its phone gave up");
    assert!(sent.expect_err("the phone gave up").is_timeout());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.together.waiting(&key) > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.together.waiting(&key), 0, "the push left the queue with its phone");
    drop(held);
    assert!(!app.records("v1").await.points.contains_key(&dropped), "nothing of it was stored");
    // The phone's next sync sends it again.
    a.sync(&app).await.expect("synced");
    assert!(app.records("v1").await.points.contains_key(&dropped));
}
