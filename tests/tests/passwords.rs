//! A user changes their own password: through the API, the `zhibu` program and the page. The
//! old password is checked as a login checks it; every token of the account ends, and the
//! client that changed it gets a new one.

use std::process::Command;

use serde_json::{Value, json};
use zhibu_tests::{Backend, PASSWORD, TestApp, backends};

async fn change(app: &TestApp, token: &str, old: &str, new: &str) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/auth/password", app.url))
        .bearer_auth(token)
        .json(&json!({"old_password": old, "new_password": new}))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON"))
}

async fn points_status(app: &TestApp, token: &str) -> u16 {
    app.get(token, &format!("/v1/me/points?year={}", app.year)).await.0
}

async fn through_the_api(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let (this, other_phone) = (app.token("v1-m01").await, app.token("v1-m01").await);
    for (old, new, status, code) in [
        ("wrong-password", "a-new-secret", 403, "wrong_password"),
        (PASSWORD, "short", 422, "bad_password"),
        (PASSWORD, PASSWORD, 422, "bad_password"),
    ] {
        let (got, body) = change(&app, &this, old, new).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{body}");
    }
    assert_eq!(points_status(&app, &other_phone).await, 200, "a refused change ends nothing");

    let (status, body) = change(&app, &this, PASSWORD, "a-new-secret").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["account"]["id"], "v1-m01");
    let renewed = body["token"].as_str().expect("a new token");
    assert_eq!(points_status(&app, &this).await, 401, "the token it was changed with ended");
    assert_eq!(points_status(&app, &other_phone).await, 401, "so did every other");
    assert_eq!(points_status(&app, renewed).await, 200);
    assert!(app.state.db.verify_login("v1-m01", "a-new-secret").await.expect("login").is_some());
    assert!(app.state.db.verify_login("v1-m01", PASSWORD).await.expect("login").is_none());
}
backends!(a_user_changes_their_password_through_the_api, through_the_api);

fn zhibu(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zhibu-under-test"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("ZHIBU_PASSWORD")
        .env_remove("ZHIBU_NEW_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .expect("zhibu runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// `zhibu password`: the phone keeps the new token and syncs on; a wrong old password is the
/// server's refusal (exit 4) and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cadre_changes_their_password_with_the_program() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (code, out, err) = zhibu(d, &["login", "--server", &app.url, "--user", "cadre1", "--password", PASSWORD], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        zhibu(d, &["password"], &[("ZHIBU_PASSWORD", "not-it-at-all"), ("ZHIBU_NEW_PASSWORD", "cadre-secret")]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("原密码不对"), "{err}");
    let (code, out, err) = zhibu(d, &["password"], &[("ZHIBU_PASSWORD", PASSWORD), ("ZHIBU_NEW_PASSWORD", "short")]);
    assert_eq!(code, 2, "{out}{err}");
    let (code, out, err) =
        zhibu(d, &["password"], &[("ZHIBU_PASSWORD", PASSWORD), ("ZHIBU_NEW_PASSWORD", "cadre-secret")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("密码已修改"), "{out}");
    let (code, out, err) = zhibu(d, &["sync"], &[]);
    assert_eq!(code, 0, "the phone logged in with its new token: {out}{err}");
    assert!(app.state.db.verify_login("cadre1", "cadre-secret").await.expect("login").is_some());
}

/// The page: a form that must come from this site, and whose success puts the new token in
/// the session cookie.
#[tokio::test]
async fn a_member_changes_their_password_on_the_page() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else { return };
    let token = app.token("v1-m01").await;
    let cookie = format!("zhibu_session={token}");
    let host = app.url.trim_start_matches("http://").to_owned();
    let page = app.http.get(format!("{}/password", app.url)).header("Cookie", &cookie).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("修改密码"));
    // Every value here is plain ASCII without `&`, `=` or `+`: written as the form sends it.
    let post = |origin: &str, again: &str| {
        let form = format!("old_password={PASSWORD}&new_password=member-secret&new_password_again={again}");
        app.http
            .post(format!("{}/password", app.url))
            .header("Cookie", &cookie)
            .header("Origin", origin)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
    };
    let r = post("http://elsewhere.example", "member-secret").send().await.expect("post");
    assert_eq!(r.status(), 403, "a form from another site");
    let r = post(&format!("http://{host}"), "member-secreT").send().await.expect("post");
    assert_eq!(r.status(), 422);
    assert!(r.text().await.expect("html").contains("两次输入的新密码不一样"));
    let r = post(&format!("http://{host}"), "member-secret").send().await.expect("post");
    assert_eq!(r.status(), 200);
    let set = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("a new session").to_owned();
    assert!(r.text().await.expect("html").contains("密码已修改"));
    let renewed = set.trim_start_matches("zhibu_session=").split(';').next().expect("token").to_owned();
    assert_eq!(points_status(&app, &token).await, 401, "the old session ended");
    assert_eq!(points_status(&app, &renewed).await, 200, "the new one is the cookie's");
}
