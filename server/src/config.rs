//! Server configuration: flags, each also an environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How the server runs.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "ZHIBU_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://...`; default: a SQLite file under ./zhibu-data/.
    #[arg(long, global = true, env = "ZHIBU_DATABASE_URL", default_value = "sqlite://zhibu-data/zhibu.db")]
    pub database_url: String,
    /// A township catalog file (TOML or JSON) replacing the built-in default. A server records
    /// the one it starts with; admin commands without this flag use that one.
    #[arg(long, global = true, env = "ZHIBU_CATALOG")]
    pub catalog: Option<PathBuf>,
    /// Days a login token stays valid.
    #[arg(long, env = "ZHIBU_TOKEN_DAYS", default_value_t = 30, value_parser = within::<u32>(1, 3650, "天"))]
    pub token_days: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ZHIBU_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024, value_parser = within::<usize>(64 * 1024, 1 << 30, "字节"))]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is cut off.
    #[arg(long, env = "ZHIBU_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = within::<u64>(1, 3600, "秒"))]
    pub request_timeout_secs: u64,
    /// Village-year documents kept in memory between requests, about 1.5 MiB each with their
    /// records as read. A document not in memory is loaded and read again on every push, which
    /// doubles its cost (docs/PERFORMANCE.md): keep every village that syncs daily in memory.
    #[arg(long, env = "ZHIBU_CACHED_DOCUMENTS", default_value_t = 256)]
    pub cached_documents: usize,
    /// Reverse proxies in front of the server (addresses, comma-separated). A request from one
    /// of them counts, for login throttling and the audit log, under the client address it
    /// names in `X-Forwarded-For`; from anyone else that header is ignored.
    #[arg(long, env = "ZHIBU_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Seed the demo township (if absent) and print its accounts.
    #[arg(long)]
    pub demo: bool,
}

/// A whole number from `min` to `max` (in `unit`): a setting of 0 would start a server that
/// refuses every login or request.
fn within<T>(min: T, max: T, unit: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("应为 {min} 到 {max} {unit}之间的整数，不是「{s}」")),
    }
}

impl Config {
    /// Defaults for tests and embedding: port 0 on loopback, the given database.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            catalog: None,
            token_days: 30,
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            cached_documents: 64,
            trusted_proxies: Vec::new(),
            demo: false,
        }
    }
}
