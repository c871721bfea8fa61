//! A PostgreSQL URL's `sslmode` is honoured: `require` (as hosted databases give their URLs)
//! connects over TLS and phones sync through it; `disable` connects in the clear, and so does a
//! URL to this machine that names none (TLS on loopback protects nothing and costs a third of
//! the syncs a second). Skipped, with the reason, when the database server has TLS turned off.

use sqlx::{AnyConnection, Connection};
use zhibu_schema::mapping;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, TestDb};

/// Whether the server's own connections to the database are encrypted.
async fn encrypted(app: &TestApp) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("the connection's TLS state")
}

async fn start(sslmode: Option<&str>) -> Option<TestApp> {
    let mut db = TestDb::create(Backend::Postgres).await?;
    let mut conn = AnyConnection::connect(&db.url).await.expect("connect");
    let ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(&mut conn).await.expect("SHOW ssl");
    if ssl != "on" {
        zhibu_tests::skipped(&format!("the PostgreSQL server has TLS turned off (ssl = {ssl})"), false);
        return None;
    }
    if let Some(mode) = sslmode {
        db.url.push_str(&format!("?sslmode={mode}"));
    }
    Some(TestApp::start_on(db, None).await)
}

#[tokio::test]
async fn a_postgres_url_that_requires_tls_gets_encrypted_connections() {
    let Some(app) = start(Some("require")).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    assert_eq!(mapping::read(&phone.doc).expect("reads").doc.members.len(), 12, "the roster came down");
    assert!(encrypted(&app).await, "the server's connections to PostgreSQL use TLS");
}

#[tokio::test]
async fn a_postgres_url_that_disables_tls_gets_plain_connections() {
    let Some(app) = start(Some("disable")).await else { return };
    app.token("cadre1").await;
    assert!(!encrypted(&app).await, "sslmode=disable is honoured");
}

#[tokio::test]
async fn a_loopback_postgres_url_without_sslmode_gets_plain_connections() {
    let Some(app) = start(None).await else { return };
    if !["@127.0.0.1", "@localhost", "//127.0.0.1", "//localhost"].iter().any(|h| app.db.url.contains(h)) {
        zhibu_tests::skipped("ZHIBU_TEST_POSTGRES names a database on another machine", false);
        return;
    }
    app.token("cadre1").await;
    assert!(!encrypted(&app).await, "no TLS to a database on this machine unless asked");
}
