//! End-to-end test support: start the real server on `127.0.0.1:0` with a fresh database
//! (SQLite always; PostgreSQL when `ZHIBU_TEST_POSTGRES` names a server, one new database per
//! test so tests run in parallel), seed a small township, and talk to it over HTTP.

pub mod bench;
pub mod browser;
pub mod cut_proxy;
pub mod fast_phone;
pub mod fixture;
pub mod fuzz_targets;
pub mod load;
pub mod pg_cluster;
pub mod process;
pub mod raw_phone;

pub use fixture::{Backend, PASSWORD, TestApp, TestDb};

/// An HTTP client builder for the tests and the benchmark: reqwest is built without a TLS
/// provider of its own (the workspace's Cargo.toml), so rustls's is installed first, as the
/// phone library does; the loopback requests here never use it.
pub fn http() -> reqwest::ClientBuilder {
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Says that a test is skipped and why, where `cargo test` shows it: libtest keeps what a
/// passing test prints with `eprintln!` to itself, and a skipped test passes. Under
/// `ZHIBU_REQUIRE_POSTGRES` (CI sets it when the machine's PostgreSQL answers) a PostgreSQL test
/// that would skip fails instead, so that a green run has run them.
pub fn skipped(why: &str, needs_postgres: bool) {
    if needs_postgres && std::env::var_os("ZHIBU_REQUIRE_POSTGRES").is_some() {
        panic!("ZHIBU_REQUIRE_POSTGRES is set, and this PostgreSQL test would be skipped: {why}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}
pub use process::ServerProcess;

/// A server the test clients can talk to: in-process or a separate process.
pub trait Server {
    fn url(&self) -> &str;
    fn http(&self) -> &reqwest::Client;
    fn year(&self) -> zhibu_schema::Year;
}

impl Server for TestApp {
    fn url(&self) -> &str {
        &self.url
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
    fn year(&self) -> zhibu_schema::Year {
        self.year
    }
}

/// Runs an async test body once per backend: `backends!(name, body_fn)` makes
/// `name::sqlite` and `name::postgres`. `body_fn` takes a [`Backend`].
#[macro_export]
macro_rules! backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body($crate::Backend::Postgres).await
            }
        }
    };
}
