//! The benchmark's servers: a database of its own (a SQLite file in a temporary folder, or a
//! new PostgreSQL database `zhibu_bench_<random>` that is dropped afterwards), seeded in this
//! process through the server's own storage path, then served by the real server program as a
//! child process (this very program, run as `bench serve ...`, which is `zhibu_server::cli`).

use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use automerge::{ActorId, Automerge};
use sqlx::{AnyConnection, Connection, Executor};
use tempfile::TempDir;
use zhibu_schema::VillageId;
use zhibu_schema::sync::{Gate, Owner, admit_authored};
use zhibu_server::db::accounts::{NewAccount, Role};
use zhibu_server::db::documents::DocKey;
use zhibu_server::push::{self, Push, Sender};
use zhibu_server::{AppState, Config};

use crate::ServerProcess;
use crate::bench::data;

pub const PASSWORD: &str = "bench-pass-1234";

/// Where a benchmark's data lives.
#[derive(Debug)]
pub struct BenchDb {
    pub url: String,
    pub dir: TempDir,
    /// (server URL, database name) of a PostgreSQL database to drop.
    pg: Option<(String, String)>,
}

impl BenchDb {
    pub fn sqlite() -> anyhow::Result<BenchDb> {
        let dir = tempfile::Builder::new().prefix("zhibu-bench-").tempdir()?;
        Ok(BenchDb { url: format!("sqlite://{}/zhibu.db", dir.path().display()), dir, pg: None })
    }

    /// A new database on the PostgreSQL server of `base` (a URL naming any database on it).
    pub async fn postgres(base: &str) -> anyhow::Result<BenchDb> {
        let dir = tempfile::Builder::new().prefix("zhibu-bench-").tempdir()?;
        let name = format!("zhibu_bench_{:016x}", fastrand::u64(..));
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(base).await.context("while connecting to PostgreSQL")?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
        let (prefix, _) = base.rsplit_once('/').context("a PostgreSQL URL ends with a database name")?;
        Ok(BenchDb { url: format!("{prefix}/{name}"), dir, pg: Some((base.to_owned(), name)) })
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.pg.take() else { return };
        crate::fixture::drop_database(base, name);
    }
}

/// The server's state on `db`, in this process, for seeding.
pub async fn seeding_state(db: &BenchDb) -> anyhow::Result<AppState> {
    zhibu_server::state(Config::for_tests(db.url.clone())).await
}

/// Stores a whole document that the server does not have yet, through the server's own
/// admission and storage path (validation, projections, one transaction).
pub async fn store_new_doc(state: &AppState, key: &DocKey, doc: Automerge) -> anyhow::Result<()> {
    let catalog = state.catalog_for(Some(&key.township)).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let owner = |_: &ActorId| Owner::Unbound;
    let base = state.load_doc(key).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let gate = Gate { village: &key.village, year: key.year, catalog: &catalog, account: "admin", owner: &owner };
    let cadres = data::cadre_actors(&key.village).map(|(actor, account)| (actor, account.to_string()));
    let author =
        |actor: &ActorId| cadres.iter().find(|(a, _)| a == actor).map_or("admin", |(_, account)| account.as_str());
    let accepted = admit_authored(&base.doc, doc, &gate, &author)
        .map_err(|r| anyhow::anyhow!("generated document refused: {r}"))?;
    let senders = vec![Sender::only("admin", None, None, &accepted)];
    let push = Push { key, base: &base, accepted, catalog: &catalog, senders };
    let stored = push::store(state, push).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    anyhow::ensure!(stored, "{key:?} changed while it was seeded");
    Ok(())
}

/// Creates accounts, hashing their passwords in parallel (argon2 is slow by design).
pub async fn create_accounts(state: &AppState, accounts: Vec<NewAccount>) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for a in accounts {
        let db = state.db.clone();
        tasks.spawn(async move { db.create_account(a).await });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(())
}

pub fn cadre(id: &str, township: &str, village: &VillageId) -> NewAccount {
    NewAccount {
        id: id.to_owned(),
        password: PASSWORD.to_owned(),
        role: Role::Cadre,
        township_id: Some(township.to_owned()),
        village_id: Some(village.to_string()),
        member_id: None,
        display_name: None,
    }
}

pub fn admin(id: &str) -> NewAccount {
    NewAccount {
        id: id.to_owned(),
        password: PASSWORD.to_owned(),
        role: Role::Admin,
        township_id: None,
        village_id: None,
        member_id: None,
        display_name: None,
    }
}

/// Starts the real server program on `db` as a child process; `env` adds to its environment
/// (e.g. `ZHIBU_CACHED_DOCUMENTS`).
pub fn start(db: &BenchDb, env: &[(&str, &str)]) -> anyhow::Result<ServerProcess> {
    let exe = std::env::current_exe().context("while finding the benchmark program")?;
    let mut command = Command::new(exe);
    command.arg("serve").env("RUST_LOG", std::env::var("BENCH_SERVER_LOG").unwrap_or("error".into()));
    for (k, v) in env {
        command.env(k, v);
    }
    Ok(ServerProcess::start_with(command, &db.url))
}

/// A reqwest client for the benchmark's own requests.
pub fn http() -> reqwest::Client {
    crate::http().timeout(Duration::from_secs(120)).build().expect("client")
}

/// A login token for `username` over HTTP.
pub async fn token(server: &ServerProcess, username: &str) -> anyhow::Result<String> {
    let r = server
        .http
        .post(format!("{}/v1/auth/login", server.url))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "login of {username}: {}", r.status());
    let v: serde_json::Value = r.json().await?;
    Ok(v["token"].as_str().context("token")?.to_owned())
}

/// Peak resident memory of a process (VmHWM), in MiB.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time a process has used so far (user and system), in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux reports in clock ticks of 1/100 s on every platform it runs on here.
    Some(ticks * 10.0)
}
