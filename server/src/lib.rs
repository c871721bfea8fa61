//! zhibu-server: the township's server. Accounts and tokens, the sync endpoints that validate
//! every phone's changes before storing them, storage through sqlx (SQLite by default,
//! PostgreSQL by URL), projections for reports, exports, and the web pages of the township
//! staff and the members.
//!
//! `Application::build` binds (port 0 in tests), `app` builds the router; `main.rs` only parses
//! flags and calls them.

pub mod admin;
pub mod admission;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod deflate;
pub mod demo;
pub mod edit;
pub mod error;
pub mod extract;
pub mod gates;
pub mod openapi;
pub mod pages;
pub mod push;
pub mod roster;
pub mod state;
pub mod throttle;
pub mod together;
pub mod writer;

/// The allocator the server's programs run with (`#[global_allocator]` in each of them):
/// jemalloc, which took a fifth less CPU per sync than the system's allocator under many
/// concurrent pushes, at no more memory (docs/PERFORMANCE.md; its settings are in
/// `.cargo/config.toml`).
#[cfg(not(target_env = "msvc"))]
pub use tikv_jemallocator::Jemalloc as Allocator;

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpSocket};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use zhibu_schema::Catalog;

pub use config::Config;
pub use db::Db;
pub use error::{AppError, AppResult};
pub use state::AppState;

/// Gives every error response API.md's JSON body, including those made by layers (timeouts,
/// panics caught) and by axum itself (unknown routes, wrong methods). The web pages' own error
/// pages (HTML) are left as they are.
async fn json_errors(mut response: Response) -> Response {
    let status = response.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is not read, so the connection cannot carry another request:
        // saying so sends the client's next request on a new connection instead of failing it.
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    let is_json_or_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_json_or_page {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "没有这个地址"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "该地址不支持这种请求方法"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "请求内容太大"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "请求超时，请稍后重试"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "请求内容类型不对"),
        s if s.is_server_error() => ("internal", "服务器内部错误，请稍后再试或联系管理员"),
        _ => ("bad_request", "请求不对"),
    };
    let mut out = (status, axum::Json(error::error_body(code, message))).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// An address no route has: a Chinese page for a browser that asked for one outside the API,
/// API.md's JSON body for everyone else.
async fn unknown_address(uri: axum::http::Uri, headers: axum::http::HeaderMap) -> Response {
    let browser =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    if browser && !uri.path().starts_with("/v1/") {
        pages::PageError(AppError::not_found("没有这个页面，请从首页进入")).into_response()
    } else {
        let body = error::error_body("not_found", "没有这个地址");
        (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
    }
}

/// The router with every resource and the protective layers.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .merge(api::health::router())
        .merge(auth::router())
        .merge(api::catalog::router())
        .merge(api::sync::router())
        .merge(api::docs::router())
        .merge(api::points::router())
        .merge(api::report::router())
        .merge(openapi::router())
        .merge(pages::router())
        .fallback(unknown_address)
        .with_state(state)
        // Reports, points and records read in a browser on a shared office computer must not
        // stay in its cache after logging out: nothing is stored unless it says so itself (the
        // stylesheet).
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        // Outside the two above (a later layer wraps the earlier ones), so that their answers
        // get the JSON body too.
        .layer(axum::middleware::map_response(json_errors))
        .layer(TraceLayer::new_for_http())
}

/// The catalog the server starts with: `--catalog FILE`, checked, or the built-in default.
pub fn load_catalog(config: &Config) -> anyhow::Result<Catalog> {
    match &config.catalog {
        None => Ok(Catalog::default()),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("无法读取目录文件 {}", path.display()))?;
            Catalog::from_file_text(&path.to_string_lossy(), &text)
                .map_err(|e| anyhow::anyhow!("{}：{e}", path.display()))
        }
    }
}

/// The state for a configuration: the database connected and migrated, the catalog loaded.
pub async fn state(config: Config) -> anyhow::Result<AppState> {
    let catalog = load_catalog(&config)?;
    let db = Db::connect(&config.database_url).await?;
    Ok(AppState::new(db, catalog, config))
}

/// The setting that holds the catalog the last server started with.
const DEFAULT_CATALOG: &str = "default_catalog";

/// The state for an admin command: as [`state`], but without `--catalog` the catalog is the
/// one the last server started with on this database (townships without their own use it), so
/// that the figures the command makes (`set-catalog` without a file, a roster import) are the
/// ones the server makes.
pub async fn admin_state(config: Config) -> anyhow::Result<AppState> {
    let db = Db::connect(&config.database_url).await?;
    let stored = match config.catalog {
        Some(_) => None,
        None => db.setting(DEFAULT_CATALOG).await?,
    };
    let catalog = match stored.map(|json| state::stored_catalog(&json)) {
        Some(Ok(catalog)) => catalog,
        // Recorded by a server of another version: this command's own default, said.
        Some(Err(e)) => {
            eprintln!(
                "注意：服务器记下的默认目录无法读取（{e}），本命令使用内置目录；需要时请用 --catalog 指定目录文件"
            );
            load_catalog(&config)?
        }
        None => load_catalog(&config)?,
    };
    Ok(AppState::new(db, catalog, config))
}

/// A server bound to its address, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let listen = config.listen;
        let demo = config.demo;
        let state = state(config).await?;
        if demo {
            // The demo's accounts all share one published password: never in a real township's
            // database.
            let others: Vec<String> = state
                .db
                .townships()
                .await?
                .into_iter()
                .filter(|(id, _)| id != demo::DEMO_TOWNSHIP)
                .map(|(id, name)| format!("{name}（{id}）"))
                .collect();
            if !others.is_empty() {
                anyhow::bail!(
                    "--demo 只用于演示：这个数据库里已有其他乡镇（{}），不会在其中建密码公开的演示账号",
                    others.join("、")
                );
            }
            for line in demo::seed(&state).await? {
                println!("{line}");
            }
        }
        let listener = listen_on(listen).with_context(|| format!("无法监听 {listen}"))?;
        // Admin commands make figures with the catalog the server uses ([`admin_state`]):
        // recorded once the server has its address, so a second start that fails to bind
        // beside a running server does not replace the running one's.
        let catalog = serde_json::to_string(&*state.default_catalog)?;
        state.db.set_setting(DEFAULT_CATALOG, &catalog).await.context("while recording the server's catalog")?;
        Ok(Application { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The address it listens on, as bound (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process is stopped (Ctrl-C or SIGTERM finish in-flight requests).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // Rows made by an older version or with another catalog are made again meanwhile.
        let state = self.state.clone();
        tokio::spawn(async move {
            match push::catch_up(&state).await {
                Ok(done) if done.documents == 0 && done.skipped.is_empty() => {}
                Ok(done) => {
                    tracing::info!(
                        documents = done.documents,
                        skipped = done.skipped.len(),
                        "projection rows made again"
                    );
                    for (key, why) in done.skipped {
                        tracing::warn!(village = %key.village, year = %key.year, why, "projection rows not made again");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "projection rows not brought up to date; each document's next push does it")
                }
            }
        });
        // Connection info gives the handlers the client's address (login throttling, audit).
        let db = self.state.db.clone();
        let app = app(self.state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(self.listener, app).with_graceful_shutdown(shutdown_signal()).await?;
        db.close().await;
        Ok(())
    }
}

/// Connections the kernel completes and holds for the server before it accepts them. A village
/// whose signal comes back brings its phones all at once, and a township's at the start of a
/// meeting day; beyond this queue Linux drops the connection attempts, and a phone tries again
/// only after a second (longer on 2G). The standard library's and tokio's queue is 128; the
/// kernel caps this at `net.core.somaxconn`.
const ACCEPT_QUEUE: u32 = 1024;

/// Listens on `addr` with [`ACCEPT_QUEUE`].
pub fn listen_on(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted server may bind again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of connections while nothing is accepted yet (a busy server) all complete at
    /// once in the kernel's queue: none waits a second for its attempt to be made again.
    #[tokio::test]
    async fn a_burst_of_phones_is_queued_not_dropped() {
        let cap =
            std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok().and_then(|s| s.trim().parse::<u32>().ok());
        if cap.is_some_and(|c| c < 300) {
            eprintln!("skipped: net.core.somaxconn is {cap:?}, below the 300 connections of this test");
            return;
        }
        let listener = listen_on(([127, 0, 0, 1], 0).into()).expect("listens");
        let addr = listener.local_addr().expect("address");
        let held = tokio::task::spawn_blocking(move || {
            (0..300)
                .map(|i| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                        .map_err(|e| format!("connection {i}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .expect("the connecting thread");
        assert!(held.is_ok(), "{:?}", held.err());
        drop(listener);
    }
}
