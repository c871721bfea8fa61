//! The load test, small: 100 concurrent loopback connections syncing and reading for three
//! seconds against the real server program, on each backend. No connection error, no 4xx, no
//! 5xx, the server's memory within its bound, and every operation kind exercised. The full
//! run (1,000 connections) is `cargo run --release -p zhibu-tests --bin load`.

use std::process::Command;

use zhibu_tests::load::{self, Options};
use zhibu_tests::{Backend, TestDb, backends};

async fn smoke(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else { return };
    let opts = Options::smoke();
    let server = Command::new(env!("CARGO_BIN_EXE_zhibu-server-under-test"));
    let report = load::run(server, &db.url, &opts).await.expect("the load runs");
    eprintln!("{backend:?}:\n{}", report.figures());
    assert!(report.problems().is_empty(), "{:?}\n{}", report.problems(), report.figures());
    for kind in ["sync_standard", "sync_fast", "read_doc", "read_points", "read_report", "read_catalog", "healthz"] {
        assert!(report.kinds.get(kind).is_some_and(|k| k.ok > 0), "no {kind} succeeded:\n{}", report.figures());
    }
    assert!(report.rss_peak_mb > 0.0, "the server's memory was read");
}
backends!(a_hundred_connections_sync_and_read_without_errors, smoke);
