//! Hostile requests: truncated and garbage bodies, oversized bodies, wrong content types, JSON
//! of the wrong shape, ids with path separators, SQL fragments and control characters, huge
//! strings in records, dates out of range. Each gets a 4xx with API.md's error body, stores
//! nothing, and is never a 5xx.

use automerge::sync::SyncDoc;
use zhibu_schema::mapping;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

/// Sends a request and checks the answer is a 4xx with the JSON error body; returns the status.
async fn refused(app: &TestApp, req: reqwest::RequestBuilder, what: &str) -> u16 {
    let r = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("body");
    assert!((400..500).contains(&status), "{what}: got {status}: {}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("{what}: not JSON: {}", String::from_utf8_lossy(&body)));
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty() && v["error"]["code"].is_string(), "{what}: {v}");
    let _ = app;
    status
}

async fn hostile(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let before = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    let u = |p: &str| format!("{}{p}", app.url);
    let y = app.year;
    let sync_url = u(&format!("/v1/villages/v1/years/{y}/sync"));

    // Login with JSON of the wrong shape, wrong types, truncated, and not JSON at all.
    for (body, ct) in [
        ("{\"username\": 1, \"password\": []}", "application/json"),
        ("{\"user\": \"cadre1\"}", "application/json"),
        ("{\"username\": \"cadre1\", \"password\": \"pa", "application/json"),
        ("[1,2,3]", "application/json"),
        ("username=cadre1&password=x", "application/x-www-form-urlencoded"),
        ("\u{0}\u{1}\u{2}", "application/json"),
    ] {
        let req = app.http.post(u("/v1/auth/login")).header("Content-Type", ct).body(body);
        refused(&app, req, &format!("login body {body:?}")).await;
    }
    // Said in Chinese, not in serde's English.
    for (body, says) in [
        ("{\"username\": \"cadre1\", \"password\": \"pa", "请求内容不是有效的 JSON"),
        ("{\"user\": \"cadre1\"}", "请求内容缺少「username」"),
    ] {
        let r = app.http.post(u("/v1/auth/login")).header("Content-Type", "application/json").body(body);
        let r = r.send().await.expect("request");
        assert_eq!(r.status(), 400);
        let text = r.text().await.expect("body");
        assert!(text.contains(says) && !text.contains("Failed to"), "{body}: {text}");
    }
    let huge = format!("{{\"username\": \"{}\", \"password\": \"x\"}}", "a".repeat(100_000));
    refused(
        &app,
        app.http.post(u("/v1/auth/login")).header("Content-Type", "application/json").body(huge),
        "huge username",
    )
    .await;
    for name in ["' OR '1'='1", "cadre1'; DROP TABLE accounts; --", "../../etc/passwd", "cadre1\u{0}"] {
        let req =
            app.http.post(u("/v1/auth/login")).json(&serde_json::json!({"username": name, "password": "' OR 1=1 --"}));
        assert_eq!(refused(&app, req, name).await, 401);
    }

    // Paths with separators, SQL, control characters, and years out of range.
    for path in [
        format!("/v1/villages/v1%2F..%2Fv2/years/{y}/doc"),
        format!("/v1/villages/v1'%20OR%20'1'='1/years/{y}/doc"),
        format!("/v1/villages/%00/years/{y}/doc"),
        format!("/v1/villages/{}/years/{y}/doc", "a".repeat(5000)),
        "/v1/villages/v1/years/-1/doc".to_owned(),
        "/v1/villages/v1/years/99999999999999999999/doc".to_owned(),
        "/v1/townships/t1'--/report".to_owned(),
        format!("/v1/townships/t1/report?year={y}&period=%27;DROP"),
        "/v1/me/points?year=abc".to_owned(),
    ] {
        refused(&app, app.http.get(u(&path)).bearer_auth(&token), &path).await;
    }

    // Sync bodies: truncated, garbage, oversized, wrong content type, bad peer ids.
    let phone = RawPhone::new(&app, &token, "phone-h", "v1");
    let mut p2 = RawPhone::new(&app, &token, "phone-h2", "v1");
    let valid = p2.doc.generate_sync_message(&mut p2.state).expect("message").encode();
    for cut in [1, valid.len() / 2, valid.len() - 1] {
        let req = app
            .http
            .post(&sync_url)
            .bearer_auth(&token)
            .header("X-Peer-Id", "p")
            .header("Content-Type", "application/octet-stream")
            .body(valid[..cut].to_vec());
        refused(&app, req, &format!("sync message cut at {cut}")).await;
    }
    let req = app
        .http
        .post(&sync_url)
        .bearer_auth(&token)
        .header("X-Peer-Id", "p")
        .header("Content-Type", "text/plain")
        .body(valid.clone());
    assert_eq!(refused(&app, req, "text/plain").await, 415);
    for peer in ["", &"p".repeat(200), "a b", "名字"] {
        let req = app
            .http
            .post(&sync_url)
            .bearer_auth(&token)
            .header("X-Peer-Id", peer.as_bytes())
            .header("Content-Type", "application/octet-stream")
            .body(valid.clone());
        refused(&app, req, &format!("peer id {peer:?}")).await;
    }
    let req = app
        .http
        .post(u("/v1/sync"))
        .bearer_auth(&token)
        .header("X-Peer-Id", "p")
        .header("Content-Type", "application/cbor")
        .body(b"\xa2\x61v\x01".to_vec());
    refused(&app, req, "truncated CBOR").await;
    // The server answers 413 as soon as the limit is passed and may close the connection while
    // the client is still sending; either the 413 or that reset is a correct refusal. The 413
    // says `Connection: close`, so the shared client's next request goes on a new connection.
    let req = app
        .http
        .post(u("/v1/sync"))
        .bearer_auth(&token)
        .header("X-Peer-Id", "p")
        .header("Content-Type", "application/cbor")
        .body(vec![0xff; 20 * 1024 * 1024]);
    match req.send().await {
        Ok(response) => assert_eq!(response.status().as_u16(), 413, "20 MB"),
        // Cut off while sending, as the server refuses the rest: not a server that hung.
        Err(e) => assert!(!e.is_timeout() && (e.is_request() || e.is_body() || e.is_connect()), "20 MB: {e}"),
    }

    // Records that break the rules, pushed through a real sync: huge strings, control
    // characters, SQL fragments in ids, dates out of range.
    let mut evil = RawPhone::new(&app, &token, "phone-evil", "v1");
    evil.sync(&app).await.expect("first sync");
    let cases: Vec<(&str, Vec<&str>, serde_json::Value)> = vec![
        (
            "huge topic",
            vec!["meetings", "0190a6b2-0000-7000-8000-000000000001"],
            serde_json::json!({"kind": "theme_day", "held_on": format!("{y}-03-01"), "topic": "长".repeat(100_000)}),
        ),
        (
            "control characters",
            vec!["meetings", "0190a6b2-0000-7000-8000-000000000002"],
            serde_json::json!({"kind": "theme_day", "held_on": format!("{y}-03-01"), "topic": "a\u{0}b"}),
        ),
        (
            "SQL in an id",
            vec!["meetings", "x'); DROP TABLE changes; --"],
            serde_json::json!({"kind": "theme_day", "held_on": format!("{y}-03-01"), "topic": "t"}),
        ),
        (
            "year 9999",
            vec!["meetings", "0190a6b2-0000-7000-8000-000000000003"],
            serde_json::json!({"kind": "theme_day", "held_on": "9999-01-01", "topic": "t"}),
        ),
        (
            "date out of the document's year",
            vec!["meetings", "0190a6b2-0000-7000-8000-000000000004"],
            serde_json::json!({"kind": "theme_day", "held_on": "2001-01-01", "topic": "t"}),
        ),
        (
            "member with a path separator",
            vec!["members", "../admin"],
            serde_json::json!({"name": "x", "status": "full"}),
        ),
        (
            "unknown kind",
            vec!["meetings", "0190a6b2-0000-7000-8000-000000000005"],
            serde_json::json!({"kind": "picnic", "held_on": format!("{y}-03-01"), "topic": "t"}),
        ),
    ];
    for (what, path, value) in cases {
        let mut attempt = RawPhone::new(&app, &token, "phone-evil", "v1");
        attempt.doc = evil.doc.fork().with_actor(automerge::ActorId::from(b"phone-evil".as_slice()));
        attempt.edit(what, |tx| mapping::put_at(tx, &path, &value));
        let err = attempt.sync(&app).await.expect_err(what);
        assert_eq!(err.status, 422, "{what}: {:?}", err.body);
        assert!(err.body["error"]["violations"].as_array().is_some_and(|v| !v.is_empty()), "{what}");
    }

    let after = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    assert_eq!(before.len(), after.len());
    assert_eq!(before, after, "nothing hostile was stored");
    let (status, _) = app.get(&token, "/healthz").await;
    assert_eq!(status, 200, "the server is still well");
    let _ = phone;
}
backends!(hostile_requests_get_4xx_and_store_nothing, hostile);

/// The violations' rule codes of a refused sync.
fn rules_of(err: &zhibu_tests::raw_phone::Refused) -> Vec<String> {
    let violations = err.body["error"]["violations"].as_array().cloned().unwrap_or_default();
    violations.iter().filter_map(|v| v["rule"].as_str().map(str::to_owned)).collect()
}

/// Records are voided with a reason, never deleted, and stay voided: a phone that deletes a
/// point entry, a meeting's whole collection or a member, or takes a void back, is refused with
/// 422 naming the rule, and the township still sees the record.
async fn records_are_never_deleted(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-d", "v1");
    phone.sync(&app).await.expect("first sync");
    let entry = phone.award("cadre1", 1).to_string();
    phone.sync(&app).await.expect("award stored");
    let delete = |doc: &mut RawPhone, path: &[&str], key: &str| {
        let (path, key) = (path.to_vec(), key.to_owned());
        doc.edit("删除", move |tx| {
            use automerge::ReadDoc;
            use automerge::transaction::Transactable;
            let mut obj = automerge::ROOT;
            for p in &path {
                obj = tx.get(&obj, *p)?.expect("path").1;
            }
            Ok(tx.delete(&obj, key.as_str())?)
        });
    };
    let attempt = |phone: &RawPhone| {
        let mut a = RawPhone::new(&app, &token, "phone-d", "v1");
        a.doc = phone.doc.fork().with_actor(automerge::ActorId::from(b"phone-d".as_slice()));
        a
    };
    for (what, path, key, rule) in [
        ("a point entry", vec!["points"], entry.clone(), "deleted"),
        ("every point entry", vec![], "points".to_owned(), "deleted"),
        ("a member", vec!["members"], "v1-m05".to_owned(), "deleted"),
    ] {
        let mut a = attempt(&phone);
        delete(&mut a, &path, &key);
        let err = a.sync(&app).await.expect_err(what);
        assert_eq!(err.status, 422, "{what}: {:?}", err.body);
        assert!(rules_of(&err).iter().any(|r| r == rule), "{what}: {:?}", err.body);
    }
    phone.edit("作废", |tx| {
        mapping::put_at(tx, &["points", &entry, "voided"], &serde_json::json!({"reason": "录错", "by": "cadre1"}))
    });
    phone.sync(&app).await.expect("voiding is accepted");
    let mut a = attempt(&phone);
    delete(&mut a, &["points", &entry], "voided");
    let err = a.sync(&app).await.expect_err("unvoiding");
    assert_eq!((err.status, rules_of(&err)), (422, vec!["unvoided".to_owned()]), "{:?}", err.body);

    let records = app.records("v1").await;
    let id = zhibu_schema::RecordId::parse(&entry).expect("id");
    assert!(records.points[&id].voided.is_some(), "the entry is still there, voided");
    assert!(records.members.contains_key(&zhibu_schema::MemberId::parse("v1-m05").expect("id")));
}
backends!(records_are_voided_never_deleted, records_are_never_deleted);

/// A compressed change of a few kilobytes that inflates to 64 MiB: Automerge inflates such a
/// chunk whole before it checks anything, and a failed allocation aborts the server.
fn inflation_bomb(mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&vec![0u8; mib << 20]).expect("deflates");
    let data = deflate.finish().expect("deflates");
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = data.len();
    while len >= 0x80 {
        chunk.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    chunk.push(len as u8);
    chunk.extend(data);
    chunk
}

/// Automerge chunks that declare more than the server will inflate or count are refused with a
/// 400 before Automerge parses them, through both sync endpoints, and the server stays well.
/// The bounds hold for a fast request in all: two documents that each stay under them, but not
/// together, are too large, and a document named twice is refused. Nothing is inflated for a
/// caller who may not write the document: a member's bomb is a 403 of that document.
async fn bombs(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let bomb = inflation_bomb(64);
    assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
    let y = app.year;

    let heads = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    let doc = |year: zhibu_schema::Year, chunk: &[u8]| zhibu_schema::sync::FastDoc {
        village: zhibu_schema::VillageId::parse("v1").expect("id"),
        year,
        known: zhibu_schema::sync::hashes_to_wire(&heads),
        heads: zhibu_schema::sync::hashes_to_wire(&heads),
        changes: vec![chunk.to_vec().into()],
    };
    let fast = |docs| {
        let request = zhibu_schema::sync::FastRequest { v: zhibu_schema::sync::FAST_VERSION, docs, catalog: None };
        app.fast_request(&token, "phone-b", &request)
    };
    let last_year = zhibu_schema::Year::new(i64::from(y) - 1).expect("year");
    let half = inflation_bomb(9);
    for (what, docs) in [
        ("one document's bomb", vec![doc(y, &bomb)]),
        ("two documents under the bound each, over it together", vec![doc(y, &half), doc(last_year, &half)]),
    ] {
        let r = fast(docs).send().await.expect("fast sync");
        assert_eq!(r.status().as_u16(), 413, "{what}: too large, so the phone sends a document at a time");
        let body: serde_json::Value = r.json().await.expect("JSON error");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("解压后超过"), "{what}: {body}");
    }
    let twice = vec![doc(y, &[]), doc(y, &[])];
    assert_eq!(refused(&app, fast(twice), "a document named twice").await, 400);
    let member = app.token("v1-m01").await;
    let request = zhibu_schema::sync::FastRequest {
        v: zhibu_schema::sync::FAST_VERSION,
        docs: vec![doc(y, &bomb)],
        catalog: None,
    };
    let r = app.fast_request(&member, "phone-m", &request).send().await.expect("fast sync");
    assert_eq!(r.status().as_u16(), 200);
    let reply = zhibu_schema::sync::FastResponse::decode(&r.bytes().await.expect("body")).expect("reply");
    assert!(
        matches!(&reply.docs[0].outcome, zhibu_schema::sync::FastOutcome::Refused { status: 403, .. }),
        "{reply:?}"
    );

    let message = automerge::sync::Message {
        heads: vec![],
        need: vec![],
        have: vec![],
        changes: automerge::sync::ChunkList::from(vec![bomb]),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    };
    let req = app
        .http
        .post(format!("{}/v1/villages/v1/years/{y}/sync", app.url))
        .bearer_auth(&token)
        .header("X-Peer-Id", "phone-b")
        .header("Content-Type", "application/octet-stream")
        .body(message.encode());
    assert_eq!(refused(&app, req, "a bomb through the standard protocol").await, 400);

    let after = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc.get_heads();
    assert_eq!(after, heads, "nothing stored");
    let (status, _) = app.get(&token, "/healthz").await;
    assert_eq!(status, 200, "the server is still well");
}
backends!(chunks_that_declare_too_much_are_refused, bombs);

/// A request whose body never arrives whole (a phone that lost its signal mid-upload) is cut
/// off at the request timeout with API.md's JSON error body, as every other refusal.
async fn stalled(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(db) = zhibu_tests::TestDb::create(backend).await else { return };
    let app = TestApp::start_configured(db, |config| config.request_timeout_secs = 1).await;
    let token = app.token("cadre1").await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nX-Peer-Id: stalled\r\n\
         Content-Type: application/cbor\r\nContent-Length: 1000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    socket.write_all(&[0xa1; 10]).await.expect("write");
    let mut reply = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), socket.read_to_end(&mut reply))
        .await
        .expect("answered within the timeout")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("application/json") && reply.contains("\"code\":\"timeout\""), "{reply}");
}
backends!(a_stalled_request_times_out_with_the_error_body, stalled);
