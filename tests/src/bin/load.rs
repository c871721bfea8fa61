//! The load test of issue 7 (docs/RELIABILITY.md): many concurrent loopback connections
//! syncing and reading against the real server program for a bounded time; prints the figures
//! and exits 1 on any connection error, 4xx, 5xx, or server memory over the bound.
//!
//! ```text
//! cargo run --release -p zhibu-tests --bin load -- [--connections 1000] [--seconds 20]
//!     [--villages 350] [--think-ms 200] [--max-rss-mb 1024] [--postgres URL]
//! ```
//!
//! The server is this very program run with `ZHIBU_LOAD_SERVE=1` (then it is
//! `zhibu_server::cli`), so one `cargo run` builds everything. When the soft limit on open
//! files is below what the connections need, the program runs itself again under
//! `sh -c 'ulimit -n N'` (up to the hard limit).

use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use sqlx::{AnyConnection, Connection, Executor};
use zhibu_tests::load::{self, Options};

const SERVE: &str = "ZHIBU_LOAD_SERVE";
const RAISED: &str = "ZHIBU_LOAD_RAISED_NOFILE";

fn usage() -> &'static str {
    "用法：load [--connections N] [--seconds S] [--villages V] [--think-ms T] [--max-rss-mb M] [--postgres URL]"
}

fn parse(args: &[String]) -> Result<(Options, Option<String>), String> {
    let mut o = Options::full();
    let mut postgres = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} 后缺少值"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{flag} 的值应为整数：{v}"));
        match flag.as_str() {
            "--connections" => {
                o.connections = number(value()?)? as usize;
                o.villages = load::villages_for(o.connections);
            }
            "--seconds" => o.duration = Duration::from_secs(number(value()?)?),
            "--villages" => o.villages = number(value()?)?.max(1) as usize,
            "--think-ms" => o.think = Duration::from_millis(number(value()?)?),
            "--max-rss-mb" => o.max_rss_mb = number(value()?)?,
            "--postgres" => postgres = Some(value()?),
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("不认识的参数 {other}\n{}", usage())),
        }
    }
    if o.connections == 0 || o.duration.is_zero() || o.duration > Duration::from_secs(600) {
        return Err("连接数应大于 0，时长应在 1 到 600 秒之间".to_owned());
    }
    Ok((o, postgres))
}

/// The hard limit on open files of this process.
fn hard_open_files() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(4)?.parse().ok()
}

/// Runs this program again with a raised soft limit; None when it need not or cannot.
fn rerun_with_more_files(needed: u64) -> Option<ExitCode> {
    let soft = load::open_files_limit()?;
    if soft >= needed || std::env::var_os(RAISED).is_some() {
        return None;
    }
    let hard = hard_open_files().unwrap_or(soft);
    let target = needed.min(hard);
    eprintln!("# open files: soft limit {soft}, raising to {target} for {needed} needed");
    let exe = std::env::current_exe().ok()?;
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(target.to_string())
        .arg(exe)
        .args(std::env::args().skip(1))
        .env(RAISED, "1")
        .status()
        .ok()?;
    Some(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn run(opts: Options, postgres: Option<String>) -> anyhow::Result<bool> {
    let dir = tempfile::Builder::new().prefix("zhibu-load-").tempdir()?;
    let (url, drop_db) = match &postgres {
        None => (format!("sqlite://{}/zhibu.db", dir.path().display()), None),
        Some(base) => {
            let name = format!("zhibu_load_{:016x}", fastrand::u64(..));
            sqlx::any::install_default_drivers();
            let mut conn = AnyConnection::connect(base).await.context("while connecting to PostgreSQL")?;
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
            let (prefix, _) = base.rsplit_once('/').context("a PostgreSQL URL ends with a database name")?;
            (format!("{prefix}/{name}"), Some((base.clone(), name)))
        }
    };
    println!(
        "# {} connections for {:?} on {}, {} villages",
        opts.connections,
        opts.duration,
        if postgres.is_some() { "PostgreSQL" } else { "SQLite" },
        opts.villages
    );
    let mut server = Command::new(std::env::current_exe()?);
    server.env(SERVE, "1");
    let result = load::run(server, &url, &opts).await;
    if let Some((base, name)) = drop_db {
        let mut conn = AnyConnection::connect(&base).await?;
        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?;
    }
    let report = result?;
    print!("{}", report.figures());
    let problems = report.problems();
    for p in &problems {
        println!("# FAILED: {p}");
    }
    Ok(problems.is_empty())
}

fn main() -> ExitCode {
    if std::env::var_os(SERVE).is_some() {
        return zhibu_server::cli::main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, postgres) = match parse(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(code) = rerun_with_more_files(opts.connections as u64 + 256) {
        return code;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("无法启动：{e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(opts, postgres)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("错误：{e:#}");
            ExitCode::FAILURE
        }
    }
}
