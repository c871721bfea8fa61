//! The benchmark: builds its data, runs every case on loopback against the real server program,
//! and prints one line per figure as `name value unit` (or one JSON object with `--json`).
//!
//! ```text
//! cargo run --release -p zhibu-tests --bin bench -- [--quick | --smoke] [--json]
//!     [--postgres URL | --no-postgres] [--only CASE,...]
//! ```
//!
//! Cases: `reconnect`, `first_sync` (with `client`), `throughput`, `report`. PostgreSQL figures
//! (`pg_`) run when `--postgres`, `ZHIBU_BENCH_POSTGRES` or `ZHIBU_TEST_POSTGRES` names a
//! server; a database `zhibu_bench_<random>` is made on it and dropped afterwards.
//!
//! `bench serve ARGS` runs the server program itself (`zhibu_server::cli`): the cases start the
//! server as a child process that way.

// The server runs in this program (`bench serve`), with the allocator it is deployed with.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: zhibu_server::Allocator = zhibu_server::Allocator;

use std::process::ExitCode;

use anyhow::Context;
use zhibu_tests::bench::server::BenchDb;
use zhibu_tests::bench::{self, Figures, Mode, Scale};

#[derive(Debug)]
struct Options {
    mode: Mode,
    json: bool,
    postgres: Option<String>,
    only: Option<Vec<String>>,
}

fn usage() -> &'static str {
    "用法：bench [--quick | --smoke] [--json] [--postgres URL | --no-postgres] [--only reconnect,first_sync,throughput,report]"
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        mode: Mode::Full,
        json: false,
        postgres: std::env::var("ZHIBU_BENCH_POSTGRES").or_else(|_| std::env::var("ZHIBU_TEST_POSTGRES")).ok(),
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.mode = Mode::Quick,
            "--smoke" => o.mode = Mode::Smoke,
            "--full" => o.mode = Mode::Full,
            "--json" => o.json = true,
            "--no-postgres" => o.postgres = None,
            "--postgres" => o.postgres = Some(it.next().ok_or("--postgres 后面要跟数据库地址")?.clone()),
            "--only" => {
                let list = it.next().ok_or("--only 后面要跟用例名")?;
                o.only = Some(list.split(',').map(str::to_owned).collect());
            }
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("不认识的参数 {other}\n{}", usage())),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let server_args = args.iter().take(1).chain(args.iter().skip(2)).cloned();
        return zhibu_server::cli::main_from(server_args);
    }
    let options = match parse(&args[1..]) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(o: Options) -> anyhow::Result<()> {
    let scale = Scale::of(o.mode);
    let mut figures = Figures::new(o.json);
    figures.note(scale.describe());
    figures.note(format!("machine: {}", bench::machine()));
    if cfg!(debug_assertions) {
        figures.note("debug build: the figures only show that every case runs; measure with --release");
    }
    let wanted = |case: &str| o.only.as_ref().is_none_or(|l| l.iter().any(|c| c == case));
    if wanted("reconnect") {
        bench::reconnect::run(&mut figures).await.context("reconnect")?;
    }
    if wanted("first_sync") || wanted("client") {
        let phone = bench::first_sync::run(&mut figures).await.context("first sync")?;
        bench::client::run(&mut figures, phone.path(), scale.client_samples).context("client")?;
    }
    if wanted("throughput") {
        bench::throughput::run(&mut figures, &scale, BenchDb::sqlite()?, "").await.context("throughput")?;
        match &o.postgres {
            Some(url) => {
                let db = BenchDb::postgres(url).await.context("a PostgreSQL database for the benchmark")?;
                bench::throughput::run(&mut figures, &scale, db, "pg_").await.context("PostgreSQL throughput")?;
            }
            None => figures.note("pg_: skipped (no --postgres URL, ZHIBU_BENCH_POSTGRES or ZHIBU_TEST_POSTGRES)"),
        }
    }
    if wanted("report") {
        bench::report::run(&mut figures, &scale).await.context("report")?;
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&figures.to_json(o.mode.name(), scale.to_json()))?);
    }
    Ok(())
}
