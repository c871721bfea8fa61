//! The real `zhibu-server` program as a separate process, for tests that kill it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zhibu_schema::Year;

use crate::Server;

#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub url: String,
    pub http: reqwest::Client,
    pub year: Year,
}

impl ServerProcess {
    /// Starts the program on an existing database (seed it first), on a free loopback port.
    /// `program` is `env!("CARGO_BIN_EXE_zhibu-server-under-test")`, which cargo gives to
    /// integration tests only.
    pub fn start(program: &str, database_url: &str) -> ServerProcess {
        ServerProcess::start_with(Command::new(program), database_url)
    }

    /// Like [`ServerProcess::start`] with a prepared command: the server program with any
    /// arguments that come before the server's own, and its environment (the benchmark runs
    /// itself as the server this way).
    pub fn start_with(mut command: Command, database_url: &str) -> ServerProcess {
        if !command.get_envs().any(|(k, _)| k == "RUST_LOG") {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server program starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("server prints its address");
        let start = line.find("http://").expect("address in the first line");
        let url = line[start..].split_whitespace().next().expect("url").trim_end_matches('/').to_owned();
        let http = crate::http().timeout(Duration::from_secs(30)).build().expect("client");
        ServerProcess { child, url, http, year: zhibu_server::api::this_year() }
    }

    /// The process id, for reading its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as systemd stops a service, then waits for the process to end; returns whether
    /// it ended by itself within 30 seconds.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGKILL: no shutdown, no flush, as a power cut or the OOM killer would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Server for ServerProcess {
    fn url(&self) -> &str {
        &self.url
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
    fn year(&self) -> Year {
        self.year
    }
}

/// A server known only by its address (for tasks that outlive a `ServerProcess` handle).
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub http: reqwest::Client,
    pub year: Year,
}

impl Remote {
    pub fn new(url: &str, year: Year) -> Remote {
        let http = crate::http().timeout(Duration::from_secs(30)).build().expect("client");
        Remote { url: url.to_owned(), http, year }
    }
}

impl Server for Remote {
    fn url(&self) -> &str {
        &self.url
    }
    fn http(&self) -> &reqwest::Client {
        &self.http
    }
    fn year(&self) -> Year {
        self.year
    }
}
