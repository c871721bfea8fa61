//! The standard sync endpoint against a bare Automerge peer: what it stores, what it refuses,
//! and that a refusal stores nothing.

use automerge::sync::SyncDoc;
use zhibu_schema::mapping;
use zhibu_schema::{AccountId, Collection, Date, MemberId, PointDelta, PointEntry, RecordId, Rule, Violation};
use zhibu_tests::fast_phone::FastPhone;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

fn award(member: &str, rule: &str, delta: i64, on: Date) -> PointEntry {
    PointEntry {
        member_id: MemberId::parse(member).expect("id"),
        rule: zhibu_schema::Code::parse(rule).expect("code"),
        delta: PointDelta::new(delta).expect("delta"),
        on,
        note: None,
        by: zhibu_schema::AccountId::parse("cadre1").expect("id"),
        voided: None,
    }
}

async fn push_and_pull(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    assert_eq!(mapping::read(&phone.doc).expect("reads").doc.members.len(), 12, "the roster came down");
    let id = RecordId::new_v7();
    let p = award("v1-m01", "volunteer", 3, phone.year().first_day());
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
    phone.sync(&app).await.expect("push");
    assert_eq!(app.records("v1").await.points.get(&id).map(|p| &**p), Some(&p));
    // A second phone of the other cadre sees it.
    let token2 = app.token("cadre2").await;
    let mut other = RawPhone::new(&app, &token2, "phone-b", "v1");
    other.sync(&app).await.expect("pull");
    assert_eq!(other.doc.get_heads(), phone.doc.get_heads());
    // A peer in step that asks again is told there is nothing more (API.md: 204), every time.
    for _ in 0..2 {
        let mut fresh = automerge::sync::State::decode(&other.state.encode()).expect("state");
        let msg = other.doc.generate_sync_message(&mut fresh).expect("a new session says its heads");
        assert_eq!(other.post_raw(&app, msg.encode(), "application/octet-stream").await.0, 204);
    }
    // What the server knows of a device is the account's that synced with it: another account
    // whose phone chose the same id starts afresh instead of from what it knew of the first.
    let key = app.doc_key("v1");
    let known = app.state.db.load_sync_state(&key, &phone.peer, "cadre1").await.expect("state");
    assert_eq!(known.shared_heads, phone.doc.get_heads());
    let theirs = app.state.db.load_sync_state(&key, &phone.peer, "cadre2").await.expect("state");
    assert!(theirs.shared_heads.is_empty(), "{:?}", theirs.shared_heads);
}
backends!(push_and_pull_converge, push_and_pull);

/// A year the server has never stored, synced by a peer that starts from nothing (a JavaScript
/// client's `Automerge.init()`): its first message carries no changes, and the server answers
/// with the year's genesis, into whose maps the peer then writes; a second such peer converges.
async fn a_year_not_stored(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let last = zhibu_schema::Year::new(i64::from(app.year.get()) - 1).expect("year");
    let key = zhibu_server::db::documents::DocKey { year: last, ..app.doc_key("v1") };
    assert_eq!(app.state.db.load_doc(&key).await.expect("load").version, 0, "never stored");
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::from_nothing(&app, &token, "phone-a", "v1", last);
    phone.sync(&app).await.expect("first sync");
    let read = mapping::read(&phone.doc).expect("the genesis came down").doc;
    assert_eq!((read.year, read.village_id.as_str()), (last, "v1"));
    let id = RecordId::new_v7();
    let case = zhibu_schema::Case::new(
        zhibu_schema::Code::parse("homestead").expect("code"),
        zhibu_schema::Line::parse("王家宅基地").expect("title"),
        last.first_day(),
    );
    phone.edit("登记事项", |tx| mapping::put_record_id(tx, Collection::Cases, &id, &case));
    phone.sync(&app).await.expect("push");
    let stored = app.state.db.load_doc(&key).await.expect("load");
    assert!(stored.version > 0);
    assert!(mapping::read(&stored.doc).expect("reads").doc.cases.contains_key(&id), "stored");
    let token2 = app.token("cadre2").await;
    let mut other = RawPhone::from_nothing(&app, &token2, "phone-b", "v1", last);
    other.sync(&app).await.expect("pull");
    assert_eq!(other.doc.get_heads(), phone.doc.get_heads());
    // A peer in step that asks again is told there is nothing more (API.md: 204), every time.
    for _ in 0..2 {
        let mut fresh = automerge::sync::State::decode(&other.state.encode()).expect("state");
        let msg = other.doc.generate_sync_message(&mut fresh).expect("a new session says its heads");
        assert_eq!(other.post_raw(&app, msg.encode(), "application/octet-stream").await.0, 204);
    }
}
backends!(a_year_never_stored_starts_from_its_genesis, a_year_not_stored);

/// The standard endpoint takes a deflated request as the fast path does, and refuses another
/// content coding with 415 rather than reading the coded bytes as a sync message.
async fn coded(backend: Backend) {
    use automerge::sync::SyncDoc;
    use std::io::Write;
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    let message = phone.doc.generate_sync_message(&mut phone.state).expect("a first message").encode();
    let mut deflated = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflated.write_all(&message).expect("deflate");
    let deflated = deflated.finish().expect("deflate");
    let url = format!("{}/v1/villages/v1/years/{}/sync", app.url, app.year);
    let send = |coding: &'static str, body: Vec<u8>| {
        app.http
            .post(&url)
            .bearer_auth(&token)
            .header("X-Peer-Id", "peer-phone-a")
            .header("Content-Type", "application/octet-stream")
            .header("Content-Encoding", coding)
            .body(body)
            .send()
    };
    let r = send("deflate", deflated).await.expect("request");
    assert_eq!(r.status(), 200);
    let reply = automerge::sync::Message::decode(&r.bytes().await.expect("body")).expect("a sync message");
    phone.doc.receive_sync_message(&mut phone.state, reply).expect("applies");
    let r = send("gzip", message).await.expect("request");
    assert_eq!(r.status(), 415);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unsupported_media_type");
}
backends!(the_standard_endpoint_takes_a_deflated_request, coded);

async fn invalid_changes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let before = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    let id = RecordId::new_v7();
    let p = award("v1-m01", "volunteer", 9, phone.year().first_day());
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
    let refused = phone.sync(&app).await.expect_err("refused");
    assert_eq!(refused.status, 422);
    let err = &refused.body["error"];
    assert_eq!(err["code"], "invalid_records");
    let violations: Vec<Violation> = serde_json::from_value(err["violations"].clone()).expect("violations");
    assert_eq!((violations[0].record.clone(), violations[0].rule), (id.to_string(), Rule::DeltaOutOfRange));
    assert!(err["message"].as_str().expect("message").contains("这里是 9"), "{err}");
    let after = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    assert_eq!(before, after, "nothing stored");
    assert!(app.records("v1").await.points.is_empty());
}
backends!(invalid_changes_are_refused_and_nothing_stored, invalid_changes);

async fn spoofing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let t1 = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &t1, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let id = RecordId::new_v7();
    let p = award("v1-m01", "volunteer", 2, phone.year().first_day());
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
    phone.sync(&app).await.expect("binds phone-a to cadre1");
    // cadre2 presents a change made under cadre1's actor.
    let t2 = app.token("cadre2").await;
    let mut thief = RawPhone::new(&app, &t2, "phone-a", "v1");
    thief.sync(&app).await.expect("pull");
    let id2 = RecordId::new_v7();
    let p2 = PointEntry {
        by: AccountId::parse("cadre2").expect("id"),
        ..award("v1-m02", "honour", 10, phone.year().first_day())
    };
    thief.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id2, &p2));
    let refused = thief.sync(&app).await.expect_err("spoofed actor refused");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["error"]["code"], "foreign_actor");
    assert!(!app.records("v1").await.points.contains_key(&id2), "nothing of it stored");
    // A cadre of another village cannot write v1 at all.
    let t3 = app.token("cadre3").await;
    let mut outsider = RawPhone::new(&app, &t3, "phone-c", "v1");
    assert_eq!(outsider.sync(&app).await.expect_err("not their village").status, 403);
}
backends!(changes_under_another_accounts_actor_are_refused, spoofing);

/// A record's `by` names the account that made it: cadre 1's phone cannot award points in cadre
/// 2's name, on either sync endpoint, and nothing of it is stored.
async fn in_anothers_name(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let before = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    let mut standard = RawPhone::new(&app, &token, "phone-a", "v1");
    standard.sync(&app).await.expect("first sync");
    let id = standard.award("cadre2", 1);
    let refused = standard.sync(&app).await.expect_err("refused");
    let err = &refused.body["error"];
    assert_eq!((refused.status, err["code"].as_str()), (422, Some("invalid_records")), "{err}");
    let violations: Vec<Violation> = serde_json::from_value(err["violations"].clone()).expect("violations");
    let found: Vec<_> = violations.iter().map(|v| (v.record.as_str(), v.field.as_str(), v.rule)).collect();
    assert_eq!(found, [(id.to_string().as_str(), "by", Rule::WrongAuthor)]);
    assert!(err["message"].as_str().expect("message").contains("不能写成 cadre2"), "{err}");

    let mut fast = FastPhone::new(&app, &token, "phone-b", "v1");
    fast.sync(&app).await.expect("first sync");
    fast.award("v1-m01", "cadre2", 2);
    let refused = fast.sync(&app).await.expect_err("refused");
    assert_eq!((refused.status, &refused.body["error"]["code"]), (422, &serde_json::json!("invalid_records")));
    fast.award("v1-m01", "cadre1", 2);
    let refused = fast.sync(&app).await.expect_err("the earlier entry still refuses the push");
    assert_eq!(refused.status, 422);

    let after = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    assert_eq!(before, after, "nothing stored");
    assert!(app.records("v1").await.points.is_empty());
}
backends!(entries_in_another_accounts_name_are_refused, in_anothers_name);

/// Each instance keeps the actors it knows bound to each account; a binding the other instance
/// made since neither refuses the owner's next push nor lets another account use the actor.
async fn two_instances(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let second = app.another_instance().await;
    let (t1, t2) = (app.token("cadre1").await, app.token("cadre2").await);
    // Both accounts sync through the second instance first: it reads (and keeps) that neither
    // has an actor bound yet.
    let mut phone = RawPhone::new(&app, &t1, "phone-a", "v1");
    phone.sync(&second.remote).await.expect("first sync, second instance");
    let mut thief = RawPhone::new(&app, &t2, "phone-a", "v1");
    thief.sync(&second.remote).await.expect("first sync of cadre2, second instance");
    // The first instance binds phone-a to cadre1.
    let first = phone.award("cadre1", 1);
    phone.sync(&app).await.expect("binds phone-a to cadre1, first instance");
    // The second instance did not see that binding: cadre1's next push there is stored ...
    let next = phone.award("cadre1", 2);
    phone.sync(&second.remote).await.expect("cadre1 pushes through the second instance");
    let records = app.records("v1").await;
    assert!(records.points.contains_key(&first) && records.points.contains_key(&next));
    // ... and cadre2 still cannot write under phone-a there.
    thief.sync(&second.remote).await.expect("pull");
    let stolen = thief.award("cadre2", 3);
    let refused = thief.sync(&second.remote).await.expect_err("spoofed actor refused by the second instance");
    assert_eq!((refused.status, refused.body["error"]["code"].as_str()), (403, Some("foreign_actor")));
    assert!(!app.records("v1").await.points.contains_key(&stolen), "nothing of it stored");
}
backends!(instances_sharing_a_database_agree_on_who_wrote_what, two_instances);

async fn bad_requests(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let phone = RawPhone::new(&app, &token, "phone-a", "v1");
    for garbage in [Vec::new(), b"\x42".to_vec(), b"not a sync message".to_vec(), vec![0x42; 4096]] {
        let (status, body) = phone.post_raw(&app, garbage, "application/octet-stream").await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json error body");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, _) = phone.post_raw(&app, b"{}".to_vec(), "application/json").await;
    assert_eq!(status, 415);
    let url = format!("{}/v1/villages/v1/years/{}/sync", app.url, app.year);
    // Too large: the server answers 413 without reading the rest and says it closes the
    // connection, so the same client's next request goes on a new one and succeeds.
    let r = app
        .http
        .post(&url)
        .bearer_auth(&phone.token)
        .header("X-Peer-Id", &phone.peer)
        .header("Content-Type", "application/octet-stream")
        .body(vec![0; 9 * 1024 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"));
    assert_eq!(r.status(), 413, "{:?}", r.text().await);
    // No device id.
    let r = app.http.post(&url).bearer_auth(&token).body(vec![1, 2, 3]).send().await.expect("request");
    assert_eq!(r.status(), 400);
    // Ids with path separators, unknown villages and years out of range.
    for path in
        ["/v1/villages/..%2Fv1/years/2026/sync", "/v1/villages/V1/years/2026/sync", "/v1/villages/v1/years/99999/sync"]
    {
        let r = app
            .http
            .post(format!("{}{path}", app.url))
            .bearer_auth(&token)
            .header("X-Peer-Id", "p")
            .body(vec![1])
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 400, "{path}");
    }
    let r = app
        .http
        .post(format!("{}/v1/villages/nowhere/years/{}/sync", app.url, app.year))
        .bearer_auth(&token)
        .header("X-Peer-Id", "p")
        .body(vec![1])
        .send()
        .await
        .expect("request");
    // A village the cadre may not write, whether it exists or not (404 would tell which ids do).
    assert_eq!(r.status(), 403);
    assert!(app.records("v1").await.points.is_empty());
}
backends!(bad_requests_get_4xx_with_the_error_body, bad_requests);

async fn compaction(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let mut ids = Vec::new();
    let pushes = zhibu_server::db::documents::COMPACT_AFTER + 6;
    for n in 0..pushes {
        let id = RecordId::new_v7();
        let p = award(&format!("v1-m{:02}", n % 12 + 1), "volunteer", 1 + n % 5, phone.year().first_day());
        phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
        phone.sync(&app).await.expect("push");
        ids.push(id);
    }
    let row: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM changes c JOIN documents d ON c.township_id = d.township_id \
         AND c.village_id = d.village_id AND c.year = d.year \
         WHERE c.village_id = 'v1' AND c.version <= d.snapshot_version), \
         (SELECT COUNT(*) FROM documents WHERE village_id = 'v1' AND snapshot IS NOT NULL)",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .expect("counts");
    assert!(
        row.0 >= zhibu_server::db::documents::COMPACT_AFTER && row.1 == 1,
        "the log was folded into a snapshot: {row:?}"
    );
    let records = app.records("v1").await;
    assert!(ids.iter().all(|id| records.points.contains_key(id)), "every change survives compaction");
    // Loaded from the database: the snapshot and the changes stored after it, no more.
    let loaded = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load");
    assert_eq!(loaded.doc.get_heads(), phone.doc.get_heads());
    assert!(loaded.pending > 0 && loaded.pending < row.0, "pending after the snapshot: {}", loaded.pending);
    let (_, log_rows): (i64, i64) = sqlx::query_as("SELECT 0, COUNT(*) FROM changes WHERE village_id = 'v1'")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("count");
    assert!(log_rows >= 71, "the change log stays whole as the audit trail");
    let mut fresh = RawPhone::new(&app, &token, "phone-b", "v1");
    fresh.sync(&app).await.expect("a new phone pulls the compacted document");
    assert_eq!(fresh.doc.get_heads(), phone.doc.get_heads());
}
backends!(compaction_keeps_every_change, compaction);

/// A document the server fails on is that document's 5xx in the fast reply: the request's other
/// documents, stored or pulled, still reach the phone, instead of one 500 for all.
async fn one_document_fails(backend: Backend) {
    use zhibu_schema::sync::{FAST_VERSION, FastDoc, FastOutcome, FastRequest, FastResponse};
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let key = app.doc_key("v1");
    // This year's stored document made unreadable, past the version any cache holds.
    sqlx::query(
        "UPDATE documents SET snapshot = $1, version = version + 1 \
         WHERE township_id = $2 AND village_id = $3 AND year = $4",
    )
    .bind(b"not an automerge document".to_vec())
    .bind(&key.township)
    .bind(key.village.as_str())
    .bind(i64::from(key.year))
    .execute(&app.state.db.pool)
    .await
    .expect("damage");
    let last_year = zhibu_schema::Year::new(i64::from(app.year) - 1).expect("year");
    let pull = |year| FastDoc { village: key.village.clone(), year, known: vec![], heads: vec![], changes: vec![] };
    let request = FastRequest { v: FAST_VERSION, docs: vec![pull(app.year), pull(last_year)], catalog: None };
    let r = app.fast_request(&token, "phone-a", &request).send().await.expect("fast sync");
    assert_eq!(r.status().as_u16(), 200);
    let reply = FastResponse::decode(&r.bytes().await.expect("body")).expect("reply");
    match &reply.docs[0].outcome {
        FastOutcome::Refused { status, code, message, .. } => {
            assert_eq!((*status, code.as_str()), (500, "internal"), "{message}");
            assert!(!message.contains("automerge"), "no cause shown: {message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&reply.docs[1].outcome, FastOutcome::Synced { changes, .. } if !changes.is_empty()), "{reply:?}");
}
backends!(one_documents_failure_is_its_own_5xx_in_a_fast_reply, one_document_fails);
