//! A PostgreSQL URL that asks for TLS (`sslmode=require`, as hosted databases give them) is
//! honoured: the server connects, its connections are encrypted, and phones sync through it.

use zhibu_schema::mapping;
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, TestDb};

#[tokio::test]
async fn a_postgres_url_that_requires_tls_gets_encrypted_connections() {
    let Some(mut db) = TestDb::create(Backend::Postgres).await else { return };
    db.url.push_str("?sslmode=require");
    let app = TestApp::start_on(db, None).await;
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    assert_eq!(mapping::read(&phone.doc).expect("reads").doc.members.len(), 12, "the roster came down");

    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&app.state.db.pool)
        .await
        .expect("the connection's TLS state");
    assert!(encrypted, "the server's connections to PostgreSQL use TLS");
}
