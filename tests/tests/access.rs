//! The access matrix: every call of API.md with every role, own and other village or
//! township, and without a token.

use zhibu_schema::sync::{FAST_VERSION, FastDoc, FastOutcome, FastRequest, FastResponse};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

#[derive(Debug, Clone, Copy)]
enum Call {
    Catalog,
    SyncV1,
    SyncV2,
    DocV1,
    DocW1,
    /// A village that does not exist: no one but an admin may tell it from one they may not read.
    DocNone,
    SyncNone,
    FastNone,
    MyPoints,
    ReportT1,
    ReportT1Csv,
    ReportT1Xlsx,
    ReportT2,
    Revoke,
    FastV1,
}

async fn call(app: &TestApp, token: Option<&str>, c: Call) -> u16 {
    let y = app.year;
    let sync_body = |village: &str| {
        let mut p = RawPhone::new(app, "", "probe", village);
        use automerge::sync::SyncDoc;
        p.doc.generate_sync_message(&mut p.state).expect("first message").encode()
    };
    let (method, path, body, content_type): (&str, String, Vec<u8>, &str) = match c {
        Call::Catalog => ("GET", "/v1/catalog".into(), vec![], ""),
        Call::SyncV1 => {
            ("POST", format!("/v1/villages/v1/years/{y}/sync"), sync_body("v1"), "application/octet-stream")
        }
        Call::SyncV2 => {
            ("POST", format!("/v1/villages/v2/years/{y}/sync"), sync_body("v2"), "application/octet-stream")
        }
        Call::DocV1 => ("GET", format!("/v1/villages/v1/years/{y}/doc"), vec![], ""),
        Call::DocW1 => ("GET", format!("/v1/villages/w1/years/{y}/doc"), vec![], ""),
        Call::DocNone => ("GET", format!("/v1/villages/nosuch/years/{y}/doc"), vec![], ""),
        Call::SyncNone => {
            ("POST", format!("/v1/villages/nosuch/years/{y}/sync"), sync_body("v1"), "application/octet-stream")
        }
        Call::MyPoints => ("GET", format!("/v1/me/points?year={y}"), vec![], ""),
        Call::ReportT1 => ("GET", format!("/v1/townships/t1/report?year={y}"), vec![], ""),
        Call::ReportT1Csv => ("GET", format!("/v1/townships/t1/report.csv?year={y}"), vec![], ""),
        Call::ReportT1Xlsx => ("GET", format!("/v1/townships/t1/report.xlsx?year={y}"), vec![], ""),
        Call::ReportT2 => ("GET", format!("/v1/townships/t2/report?year={y}"), vec![], ""),
        Call::Revoke => ("POST", "/v1/admin/accounts/v1-m02/revoke".into(), vec![], ""),
        Call::FastV1 | Call::FastNone => {
            let village = if matches!(c, Call::FastV1) { "v1" } else { "nosuch" };
            let v = zhibu_schema::VillageId::parse(village).expect("id");
            let req = FastRequest {
                v: FAST_VERSION,
                docs: vec![FastDoc { village: v, year: y, known: vec![], heads: vec![], changes: vec![] }],
                catalog: None,
            };
            ("POST", "/v1/sync".into(), req.encode(), "application/cbor")
        }
    };
    let mut req = if method == "GET" {
        app.http.get(format!("{}{path}", app.url))
    } else {
        app.http.post(format!("{}{path}", app.url))
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if !content_type.is_empty() {
        req = req.header("Content-Type", content_type).header("X-Peer-Id", "matrix-probe");
    }
    let r = req.body(body).send().await.expect("request");
    let status = r.status().as_u16();
    let bytes = r.bytes().await.expect("body");
    if status >= 400 {
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("every refusal has the JSON error body");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    if let (Call::FastV1 | Call::FastNone, 200) = (c, status) {
        // The fast path answers per document: report that document's status.
        let resp = FastResponse::decode(&bytes).expect("cbor");
        return match &resp.docs[0].outcome {
            FastOutcome::Refused { status, .. } => *status,
            _ => 200,
        };
    }
    status
}

async fn matrix(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let roles = ["admin", "staff1", "staff2", "cadre1", "cadre3", "v1-m01"];
    let mut tokens = Vec::new();
    for r in roles {
        tokens.push(app.token(r).await);
    }
    use Call::*;
    //                       anon admin staff1 staff2 cadre1 cadre3 member
    let expected: [(Call, [u16; 7]); 15] = [
        (Catalog, [401, 200, 200, 200, 200, 200, 200]),
        (SyncV1, [401, 403, 403, 403, 200, 403, 403]),
        (SyncV2, [401, 403, 403, 403, 403, 200, 403]),
        (DocV1, [401, 200, 200, 403, 200, 403, 403]),
        (DocW1, [401, 200, 403, 200, 403, 403, 403]),
        (DocNone, [401, 404, 403, 403, 403, 403, 403]),
        (SyncNone, [401, 403, 403, 403, 403, 403, 403]),
        (FastNone, [401, 403, 403, 403, 403, 403, 403]),
        (MyPoints, [401, 403, 403, 403, 403, 403, 200]),
        (ReportT1, [401, 200, 200, 403, 403, 403, 403]),
        (ReportT1Csv, [401, 200, 200, 403, 403, 403, 403]),
        (ReportT1Xlsx, [401, 200, 200, 403, 403, 403, 403]),
        (ReportT2, [401, 200, 403, 200, 403, 403, 403]),
        (FastV1, [401, 403, 403, 403, 200, 403, 403]),
        (Revoke, [401, 200, 403, 403, 403, 403, 403]),
    ];
    let mut failures = Vec::new();
    for (c, want) in expected {
        for (i, want) in want.iter().enumerate() {
            let token = if i == 0 { None } else { Some(tokens[i - 1].as_str()) };
            let got = call(&app, token, c).await;
            if got != *want {
                failures.push(format!(
                    "{c:?} as {}: got {got}, want {want}",
                    if i == 0 { "anonymous" } else { roles[i - 1] }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // A garbage token is no token.
    assert_eq!(call(&app, Some("not-a-token"), Call::Catalog).await, 401);
}
backends!(every_call_with_every_role, matrix);

async fn revoked_tokens(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let member = app.token("v1-m02").await;
    assert_eq!(app.get(&member, "/v1/catalog").await.0, 200);
    let admin = app.token("admin").await;
    let r = app
        .http
        .post(format!("{}/v1/admin/accounts/v1-m02/revoke", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&member, "/v1/catalog").await.0, 401);
    // Logging out ends one token.
    let t = app.token("cadre1").await;
    let r = app.http.post(format!("{}/v1/auth/logout", app.url)).bearer_auth(&t).send().await.expect("logout");
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&t, "/v1/catalog").await.0, 401);
    // Wrong passwords and unknown names are both 401 with the same message.
    for (u, p) in [("cadre1", "wrong-password"), ("nobody", "pass-1234")] {
        let r = app
            .http
            .post(format!("{}/v1/auth/login", app.url))
            .json(&serde_json::json!({"username": u, "password": p}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["error"]["message"], "用户名或密码不对");
    }
}
backends!(tokens_can_be_revoked_and_logins_refused, revoked_tokens);
