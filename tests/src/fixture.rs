//! A fresh server per test, with a small township seeded through the server's own code paths.
//!
//! Township `t1`: villages `v1` (12 members, 2 groups; cadres `cadre1`, `cadre2`; member
//! accounts `v1-m01`, `v1-m02`) and `v2` (10 members; cadre `cadre3`). Township `t2`: village
//! `w1` (8 members; cadre `cadre-w`). Staff `staff1` (t1), `staff2` (t2), and `admin`. Every
//! password is [`PASSWORD`].

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use sqlx::{AnyConnection, Connection, Executor, Row};
use tempfile::TempDir;
use zhibu_schema::{Collection, VillageId, Year, mapping, sample};
use zhibu_server::db::accounts::{NewAccount, Role};
use zhibu_server::db::documents::DocKey;
use zhibu_server::{AppState, Application, Config};

use crate::process::Remote;

pub const PASSWORD: &str = "pass-1234";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test: a SQLite file in a temporary folder, or a new PostgreSQL database
/// that is dropped again when the test ends.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
    /// (server URL, database name) of a PostgreSQL database to drop.
    pg: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.pg.take() else { return };
        drop_database(base, name);
    }
}

/// Drops the PostgreSQL database `name` on the server of `base`, from a `Drop`: that runs
/// outside any runtime guarantee, so a thread with its own small runtime does it.
pub(crate) fn drop_database(base: String, name: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        rt.block_on(async {
            let mut conn = AnyConnection::connect(&base).await.ok()?;
            conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.ok()
        })
    })
    .join();
}

impl TestDb {
    /// None (after saying why) when PostgreSQL is asked for and not configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                Some(TestDb { url: format!("sqlite://{}/zhibu.db", dir.path().display()), dir, pg: None })
            }
            Backend::Postgres => {
                let Ok(base) = std::env::var("ZHIBU_TEST_POSTGRES") else {
                    crate::skipped(
                        "PostgreSQL test (set ZHIBU_TEST_POSTGRES=postgres://user@host:port/db to run it)",
                        true,
                    );
                    return None;
                };
                let name = format!("zhibu_test_{:016x}", fastrand::u64(..));
                sqlx::any::install_default_drivers();
                let mut conn = AnyConnection::connect(&base).await.expect("connect to ZHIBU_TEST_POSTGRES");
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let (prefix, _) = base.rsplit_once('/').expect("postgres URL with a database");
                Some(TestDb { url: format!("{prefix}/{name}"), dir, pg: Some((base.clone(), name)) })
            }
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct TestApp {
    pub url: String,
    pub state: AppState,
    pub db: TestDb,
    pub http: reqwest::Client,
    pub year: Year,
    task: tokio::task::JoinHandle<()>,
}

/// A second server instance on a [`TestApp`]'s database ([`TestApp::another_instance`]),
/// reached through `remote`.
#[derive(Debug)]
pub struct Instance {
    pub remote: Remote,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestApp {
    /// Starts a server with the fixture township; None when the backend is unavailable.
    pub async fn start(backend: Backend) -> Option<TestApp> {
        let db = TestDb::create(backend).await?;
        Some(Self::start_on(db, None).await)
    }

    /// Starts a server on a given database and catalog file, seeding the fixture if absent.
    pub async fn start_on(db: TestDb, catalog: Option<std::path::PathBuf>) -> TestApp {
        Self::start_configured(db, |config| config.catalog = catalog).await
    }

    /// Starts a server on a given database with the tests' configuration as `configure`
    /// changes it, seeding the fixture if absent.
    pub async fn start_configured(db: TestDb, configure: impl FnOnce(&mut Config)) -> TestApp {
        // As the server program does: hostile inputs that Automerge panics on stay quiet.
        zhibu_schema::guard::quiet_caught_panics();
        let mut config = Config::for_tests(db.url.clone());
        configure(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let url = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let year = zhibu_server::api::this_year();
        seed(&state, year).await.expect("fixture seeds");
        let task = tokio::spawn(async move {
            let _ = app.run_until_stopped().await;
        });
        let http = crate::http().timeout(Duration::from_secs(60)).build().expect("client");
        TestApp { url, state, db, http, year, task }
    }

    /// Logs in and returns the token.
    pub async fn token(&self, username: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/auth/login", self.url))
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), 200, "login of {username}");
        let v: Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_owned()
    }

    pub fn doc_key(&self, village: &str) -> DocKey {
        let township = if village.starts_with('w') { "t2" } else { "t1" };
        DocKey { township: township.to_owned(), village: VillageId::parse(village).expect("id"), year: self.year }
    }

    /// The document as the server has it, read into records.
    pub async fn records(&self, village: &str) -> zhibu_schema::VillageYear {
        let loaded = self.state.db.load_doc(&self.doc_key(village)).await.expect("loads");
        mapping::read(&loaded.doc).expect("reads").doc
    }

    /// The notes of the village's point entries, as the server has them.
    pub async fn point_notes(&self, village: &str) -> Vec<String> {
        self.records(village).await.points.values().filter_map(|p| p.note.as_ref().map(|n| n.to_string())).collect()
    }

    /// How many point entries of the village the projection `p_points` holds.
    pub async fn point_rows(&self, village: &str) -> i64 {
        let key = self.doc_key(village);
        sqlx::query("SELECT COUNT(*) AS n FROM p_points WHERE township_id = $1 AND village_id = $2 AND year = $3")
            .bind(&key.township)
            .bind(key.village.as_str())
            .bind(i64::from(key.year))
            .fetch_one(&self.state.db.pool)
            .await
            .expect("p_points")
            .get::<i64, _>("n")
    }

    /// Another server instance on this app's database, as a second server process would be,
    /// for tests of what each instance keeps in memory; it stops when dropped.
    pub async fn another_instance(&self) -> Instance {
        let other = Application::build(Config::for_tests(self.db.url.clone())).await.expect("second instance");
        let remote = Remote::new(&format!("http://127.0.0.1:{}", other.port()), self.year);
        Instance { remote, task: tokio::spawn(other.run_until_stopped()) }
    }

    /// A fast sync request (`POST /v1/sync`, CBOR) of `peer` with a bearer token, to send.
    pub fn fast_request(
        &self,
        token: &str,
        peer: &str,
        request: &zhibu_schema::sync::FastRequest,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/v1/sync", self.url))
            .bearer_auth(token)
            .header("X-Peer-Id", peer)
            .header("Content-Type", "application/cbor")
            .body(request.encode())
    }

    /// GET with a bearer token; returns status and body bytes.
    pub async fn get(&self, token: &str, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(format!("{}{path}", self.url)).bearer_auth(token).send().await.expect("request");
        (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
    }
}

/// The fixture township, through the server's own code paths.
pub async fn seed(state: &AppState, year: Year) -> anyhow::Result<()> {
    let db = &state.db;
    if db.township_exists("t1").await? {
        return Ok(());
    }
    db.create_township("t1", "一镇").await?;
    db.create_township("t2", "二镇").await?;
    for (t, v, name, size) in [("t1", "v1", "一村", 12), ("t1", "v2", "二村", 10), ("t2", "w1", "外村", 8)] {
        db.create_village(t, v, name).await?;
        let village = VillageId::parse(v)?;
        let roster = sample::roster(&village, year, size, 2);
        let key = DocKey { township: t.to_owned(), village, year };
        zhibu_server::edit::server_edit(state, &key, "admin", "导入党员名册", |tx, _| {
            for (id, m) in &roster.members {
                mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
            }
            Ok(())
        })
        .await
        .context("while seeding a roster")?;
    }
    let account = |id: &str, role: Role, t: Option<&str>, v: Option<&str>, m: Option<&str>| NewAccount {
        id: id.to_owned(),
        password: PASSWORD.to_owned(),
        role,
        township_id: t.map(str::to_owned),
        village_id: v.map(str::to_owned),
        member_id: m.map(str::to_owned),
        display_name: None,
    };
    for a in [
        account("admin", Role::Admin, None, None, None),
        account("staff1", Role::Township, Some("t1"), None, None),
        account("staff2", Role::Township, Some("t2"), None, None),
        account("cadre1", Role::Cadre, Some("t1"), Some("v1"), None),
        account("cadre2", Role::Cadre, Some("t1"), Some("v1"), None),
        account("cadre3", Role::Cadre, Some("t1"), Some("v2"), None),
        account("cadre-w", Role::Cadre, Some("t2"), Some("w1"), None),
        account("v1-m01", Role::Member, Some("t1"), Some("v1"), Some("v1-m01")),
        account("v1-m02", Role::Member, Some("t1"), Some("v1"), Some("v1-m02")),
    ] {
        db.create_account(a).await?;
    }
    Ok(())
}
