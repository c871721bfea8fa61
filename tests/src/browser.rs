//! A real browser for the page tests: Debian's headless Chromium driven over WebDriver by
//! fantoccini, through a chromedriver started on a free loopback port with a throwaway profile.
//! When Chromium or chromedriver is not installed (a developer's laptop), [`Browser::start`]
//! says the test is skipped and returns None; CI installs both (`.ci/run`).
//!
//! The chromedriver runs in its own process group, and that group (chromedriver and the
//! Chromium it started) is ended when the `Browser` is dropped, even when a test fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;

/// Where the screenshots go: `target/screenshots/` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("screenshots")
}

fn installed(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A headless Chromium session.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group: end it and the browser it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or says why the test is skipped.
    pub async fn start() -> Option<Browser> {
        let chromium = installed("ZHIBU_CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = installed("ZHIBU_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            crate::skipped("chromium/chromedriver not found", false);
            return None;
        };
        let port = free_port();
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = Command::new(&driver);
        command.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver_process = command.spawn().expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not listen on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            // Loopback only, whatever proxy the machine's environment names.
            "--no-proxy-server".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--lang=zh-CN".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), json!({"binary": chromium, "args": args}));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session with headless Chromium");
        Some(Browser { client, driver: driver_process, _profile: profile })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn find_all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.unwrap_or_else(|e| panic!("finding {css}: {e}"))
    }

    /// The text of the first element matching a CSS selector.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// The `class` attribute of the first element matching a CSS selector.
    pub async fn class(&self, css: &str) -> String {
        self.find(css).await.attr("class").await.expect("class attribute").unwrap_or_default()
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("current url").path().to_owned()
    }

    /// Fills the login form and submits it, as a person would; returns once the browser has
    /// left the login page or shows its error.
    pub async fn log_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.find("#username").await.send_keys(username).await.expect("type the name");
        self.find("#password").await.send_keys(password).await.expect("type the password");
        self.find("#login-submit").await.click().await.expect("submit");
        self.wait_until("the login answered", async || {
            self.path().await != "/login" || self.client.find(Locator::Css("#login-error")).await.is_ok()
        })
        .await;
    }

    /// Clicks the first element matching a CSS selector and waits until the browser is on a page
    /// whose path is `path`.
    pub async fn click_to(&self, css: &str, path: &str) {
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
        self.wait_until(&format!("{path} opened"), async || self.path().await == path).await;
    }

    /// Polls `done` until it holds (10 s at most): a click's navigation finishes on its own time.
    pub async fn wait_until(&self, what: &str, done: impl AsyncFn() -> bool) {
        let started = Instant::now();
        while !done().await {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out waiting: {what} (at {})",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The widest the page's content is, in CSS pixels.
    pub async fn content_width(&self) -> u64 {
        let v = self.client.execute("return document.documentElement.scrollWidth", vec![]).await.expect("script");
        v.as_u64().unwrap_or(0)
    }

    /// Saves the whole page, `width` pixels wide, as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str, width: u32) -> PathBuf {
        self.client.set_window_size(width, 900).await.expect("resize");
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(400, 8000) as u32;
        self.client.set_window_size(width, height).await.expect("resize to the page");
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Ends the WebDriver session (the processes end when the `Browser` is dropped).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
