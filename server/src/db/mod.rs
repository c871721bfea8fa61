//! The database: SQLite (embedded, WAL, synchronous=FULL so an acknowledged write survives a
//! crash) or PostgreSQL, chosen by URL. Both run the same tables (`migrations/`, one folder per
//! dialect because their DDL differs in the byte type only) and the same queries, through
//! sqlx's `Any` driver with `$N` parameters, which both accept. On SQLite the pushes' writes go
//! through the writer's own connection instead of sqlx's pool, the same statements
//! ([`sink`], [`crate::writer`]).

pub mod accounts;
pub mod documents;
pub mod projections;
pub mod records;
pub mod report;
pub mod sink;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite's database file, which the writer opens a connection of its own to
    /// ([`crate::writer`]).
    pub sqlite_file: Option<PathBuf>,
    /// Answers that stay true once read, kept so a sync does not ask the database again.
    known: Arc<Known>,
    /// The key of the login throttle's digests ([`crate::throttle`]), the same for every server
    /// process on the database.
    pub throttle_key: Arc<[u8; 32]>,
}

impl Db {
    /// Shuts the database when the server stops: every connection closed, and on SQLite the
    /// write-ahead log folded into the database file and emptied, so that the file alone is
    /// the database (a copy put in its place at a restore is not overlaid by a log left beside
    /// it, README "Backups").
    pub async fn close(&self) {
        if tokio::time::timeout(std::time::Duration::from_secs(10), self.pool.close()).await.is_err() {
            tracing::warn!("database connections still in use after 10 s: closing regardless");
        }
        let Some(file) = &self.sqlite_file else { return };
        // The writer closes its own connection when the pool closes, on its task.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let folded = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .and_then(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0)));
        match folded {
            Ok(0) => {}
            Ok(_) => {
                tracing::warn!("the SQLite log could not be emptied at shutdown: it is replayed at the next start")
            }
            Err(e) => tracing::warn!(error = %e, "the SQLite log not emptied at shutdown"),
        }
    }
}

/// What the database said that can never become false (see [`Db::village_township`] and
/// [`Db::actors_of`]), so that another server process sharing the database cannot make it
/// stale: only what was read or written is kept, never an absence.
#[derive(Debug, Default)]
struct Known {
    /// Village → its township: a village never moves and is never deleted.
    townships: Mutex<HashMap<String, String>>,
    /// Account → actors bound to it: a binding is never undone or moved.
    actors: Mutex<HashMap<String, HashSet<String>>>,
}

/// Entries kept of each kind before starting over (a city has a few thousand villages and
/// cadres; this only bounds memory against a flood of ids).
const KNOWN_MAX: usize = 100_000;

/// Remembers `value` under `key`, starting over when the map is full.
fn remember<V>(map: &Mutex<HashMap<String, V>>, key: &str, value: V) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= KNOWN_MAX {
        map.clear();
    }
    map.insert(key.to_owned(), value);
}

/// A PostgreSQL URL as the pool gets it. Without an `sslmode`, libpq (and sqlx) prefer TLS when
/// the database offers it; to a database on the same machine (loopback, or a Unix socket) that
/// protects nothing and costs much: over the benchmark's throughput case, PostgreSQL's syncs a
/// second fell by more than a third (docs/PERFORMANCE.md). There the connections are plain
/// unless the URL asks otherwise; to any other host, libpq's default stands.
fn postgres_url(url: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).with_context(|| format!("数据库地址无法解析：{}", redact(url)))?;
    let asked = parsed.query_pairs().any(|(k, _)| matches!(k.as_ref(), "sslmode" | "ssl-mode"));
    let socket = parsed.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    let local = match parsed.host() {
        None => true,
        // `postgres:` is not a scheme the URL standard knows, so an IPv4 address stays text.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    if asked || !(local || socket) {
        return Ok(url.to_owned());
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    Ok(parsed.into())
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How every SQLite connection runs: the pool's and the writer's.
///
/// temp_store=MEMORY: every page a push changes under its savepoint ([`crate::writer`]) is
/// first copied to a statement journal, a temporary file by default: a write system call per
/// page.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000; \
     PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";

/// A backend's migrations, which [`Db::connect`] runs (tests run them part way, to check what a
/// migration does to the rows before it).
pub fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Db {
    /// Connects and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            // Each connection would have a database of its own.
            anyhow::ensure!(
                path != ":memory:",
                "SQLite 内存数据库不能用：请给出数据库文件的路径，如 sqlite://data/zhibu.db"
            );
            if let Some(dir) = Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
            }
            let url = if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, postgres_url(url)?)
        } else {
            anyhow::bail!("数据库地址应以 sqlite:// 或 postgres:// 开头：{url}");
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            // Checking a connection before each use costs a round trip to its thread; an
            // embedded SQLite connection does not go stale, a PostgreSQL one does (restarts).
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await.map_err(|e| {
            let why = match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => {
                    "数据库不存在，请先建好（如 createdb），或核对地址中的数据库名".to_owned()
                }
                sqlx::Error::Database(d)
                    if d.code().as_deref() == Some("28P01") || d.code().as_deref() == Some("28000") =>
                {
                    "用户名或密码不对，或没有连接的权限".to_owned()
                }
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => {
                    "连不上数据库服务器，请核对地址和端口、服务器是否在运行".to_owned()
                }
                _ => e.to_string(),
            };
            anyhow::anyhow!("无法连接数据库 {}：{why}", redact(&url))
        })?;
        migrator(backend).run(&pool).await.context("升级数据库结构（migrations）时出错")?;
        let sqlite_file = match backend {
            Backend::Sqlite => Some(sqlx::sqlite::SqliteConnectOptions::from_str(&url)?.get_filename().to_owned()),
            Backend::Postgres => None,
        };
        let throttle_key = Arc::new(secret(&pool, "throttle").await.context("while reading the server's secrets")?);
        Ok(Db { pool, backend, sqlite_file, known: Arc::default(), throttle_key })
    }

    /// Whether the database answers, within two seconds: a health probe must answer quickly
    /// even while every connection attempt waits out the pool's acquire timeout.
    pub async fn ping(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(Duration::from_secs(2), query).await, Ok(Ok(_)))
    }
}

impl Db {
    /// The setting `name` a server process recorded (`server_settings`), if any.
    pub async fn setting(&self, name: &str) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| sqlx::Row::try_get(&r, "value")).transpose()?)
    }

    /// Records the setting `name`, replacing what was recorded.
    pub async fn set_setting(&self, name: &str, value: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The server's secret `name`: made (32 random bytes) by the first server process to ask, read
/// by every other.
async fn secret(pool: &AnyPool, name: &str) -> anyhow::Result<[u8; 32]> {
    let mut made = [0u8; 32];
    getrandom::fill(&mut made).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(hex::encode(made))
        .execute(pool)
        .await?;
    let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(pool).await?;
    let stored: String = sqlx::Row::try_get(&row, "value")?;
    let bytes = hex::decode(stored.trim())?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the secret {name} is not 32 bytes"))
}

/// A URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    /// Every pooled SQLite connection runs with the settings an acknowledged write relies on.
    #[tokio::test]
    async fn sqlite_connections_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("z.db").display())).await.unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        for (pragma, expected) in
            [("journal_mode", "wal"), ("synchronous", "2"), ("foreign_keys", "1"), ("temp_store", "2")]
        {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {pragma}"))).fetch_one(&mut *conn).await.unwrap();
            let value = row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()));
            assert_eq!(value.unwrap(), expected, "PRAGMA {pragma}");
        }
    }

    /// TLS to PostgreSQL: plain to the same machine unless the URL asks, libpq's default to
    /// any other host, and a URL that names its sslmode is left exactly as it is.
    #[test]
    fn postgres_urls_to_this_machine_are_plain_unless_they_ask() {
        let plain = |u: &str| postgres_url(u).unwrap().contains("sslmode=disable");
        for local in [
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:p@localhost/zhibu",
            "postgresql://[::1]:5432/zhibu?application_name=zhibu",
            "postgres:///zhibu?host=/var/run/postgresql",
        ] {
            assert!(plain(local), "{local}");
        }
        for remote in ["postgres://u:p@db.example.cn:5432/zhibu", "postgres://10.0.0.5/zhibu"] {
            assert_eq!(postgres_url(remote).unwrap(), remote);
        }
        for asked in ["postgres://127.0.0.1/zhibu?sslmode=require", "postgres://localhost/zhibu?ssl-mode=prefer"] {
            assert_eq!(postgres_url(asked).unwrap(), asked);
        }
        assert!(postgres_url("postgres://[::1/zhibu").is_err(), "a URL that cannot be read is refused");
    }

    /// What is kept in memory is only what the database said exists: a village looked up
    /// before it was created is found once it is, also by another instance's `Db` that had
    /// looked for it; the actors an account is known to hold grow with what pushes bind.
    #[tokio::test]
    async fn only_what_exists_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("z.db").display());
        let (db, other) = (Db::connect(&url).await.unwrap(), Db::connect(&url).await.unwrap());
        assert_eq!(db.village_township("v9").await.unwrap(), None);
        assert_eq!(other.village_township("v9").await.unwrap(), None);
        db.create_township("t9", "九镇").await.unwrap();
        db.create_village("t9", "v9", "九村").await.unwrap();
        assert_eq!(other.village_township("v9").await.unwrap().as_deref(), Some("t9"));
        assert_eq!(db.village_township("v9").await.unwrap().as_deref(), Some("t9"));

        assert!(db.actors_of("cadre9").await.unwrap().is_empty());
        db.learn_actors("cadre9", &["aa".to_owned()]);
        assert_eq!(db.actors_of("cadre9").await.unwrap(), HashSet::from(["aa".to_owned()]));
        // An account not read yet learns nothing: its set is read whole when first asked.
        other.learn_actors("cadre9", &["bb".to_owned()]);
        assert!(other.actors_of("cadre9").await.unwrap().is_empty());
    }
}
