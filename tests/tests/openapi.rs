//! The OpenAPI description served at `/v1/openapi.json`: it parses, is OpenAPI 3, and lists
//! every call of API.md (read from `../shared/API.md` when it is there, and a fixed list that
//! also holds docs/API-EXTENSIONS.md's additions), with the bearer scheme on the calls that need a token
//! and the error body on the refusals.

use std::collections::BTreeSet;

use serde_json::Value;
use zhibu_tests::{Backend, TestApp};

/// `(method, path)` with every parameter written `{}`.
fn normalize(method: &str, path: &str) -> (String, String) {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<String> = path
        .split('/')
        .map(|s| {
            let is_param =
                (s.starts_with('{') && s.ends_with('}')) || (s.len() == 1 && s.chars().all(|c| c.is_ascii_uppercase()));
            if is_param { "{}".to_owned() } else { s.to_owned() }
        })
        .collect();
    (method.to_ascii_lowercase(), segments.join("/"))
}

/// Every `METHOD /path` written in API.md's table.
fn api_md_calls() -> Option<Vec<(String, String)>> {
    // Beside the project's root, or where ZHIBU_SHARED_DOCS says (CI's clone lives elsewhere).
    let dir = std::env::var("ZHIBU_SHARED_DOCS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").to_owned());
    let text = std::fs::read_to_string(std::path::Path::new(&dir).join("API.md")).ok()?;
    let calls = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| {
            let (method, path) = span.split_once(' ')?;
            (["GET", "POST", "PUT", "DELETE"].contains(&method) && path.starts_with('/'))
                .then(|| normalize(method, path.split_whitespace().next().unwrap_or(path)))
        })
        .collect::<Vec<_>>();
    (!calls.is_empty()).then_some(calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_lists_every_call() {
    let app = TestApp::start(Backend::Sqlite).await.expect("SQLite is always available");
    let r = app.http.get(format!("{}/v1/openapi.json", app.url)).send().await.expect("request");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("application/json"));
    let doc: Value = r.json().await.expect("the description is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().into_iter().flat_map(|ops| ops.keys()).map(move |m| normalize(m, path))
        })
        .collect();

    let mut wanted: Vec<(String, String)> = [
        ("POST", "/v1/auth/login"),
        ("POST", "/v1/auth/logout"),
        ("POST", "/v1/auth/password"),
        ("POST", "/v1/admin/accounts/{account}/revoke"),
        ("GET", "/v1/catalog"),
        ("POST", "/v1/villages/V/years/Y/sync"),
        ("POST", "/v1/sync"),
        ("GET", "/v1/villages/V/years/Y/doc"),
        ("GET", "/v1/me/points"),
        ("GET", "/v1/townships/T/report"),
        ("GET", "/v1/townships/T/report.csv"),
        ("GET", "/v1/townships/T/report.xlsx"),
        ("GET", "/healthz"),
        ("GET", "/v1/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| normalize(m, p))
    .collect();
    match api_md_calls() {
        Some(calls) => wanted.extend(calls),
        None if std::env::var_os("ZHIBU_SHARED_DOCS").is_some() => panic!("ZHIBU_SHARED_DOCS holds no API.md"),
        None => zhibu_tests::skipped(
            "the check against ../shared/API.md (not found); the built-in list of its calls is checked",
            false,
        ),
    }
    for call in &wanted {
        assert!(listed.contains(call), "{call:?} is not in the OpenAPI description: {listed:#?}");
    }

    // Calls with a token declare the bearer scheme; refusals carry the error body.
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let sync = &doc["paths"]["/v1/villages/{village}/years/{year}/sync"]["post"];
    assert!(sync["security"].to_string().contains("bearer"), "{sync}");
    let refusal = &sync["responses"]["422"]["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(refusal, "#/components/schemas/ErrorBody");
    assert!(doc["paths"]["/v1/auth/login"]["post"]["responses"]["429"].is_object(), "the throttle is described");
}
