//! The server's HTTP API (API.md and the fast path) over reqwest: the [`Transport`] for sync,
//! and login, logout and a member's own points.
//!
//! Status codes become [`TransportError`]s: 401 `Unauthorized`; 408, 409 (busy), 429 and 5xx
//! `Network` (try again later); every other 4xx `Refused`, with the server's Chinese message
//! and violations. An answer that does not decode (a captive portal's login page, a proxy's
//! error) counts as no answer.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
use zhibu_schema::sync::{FastRequest, FastResponse};
use zhibu_schema::{Catalog, Violation, Year};

use super::transport::{Transport, TransportError};
use crate::error::{ClientError, ServerRefusal};
use crate::session::{Account, Session};
use crate::store::{read_optional, write_atomic};
use crate::{DocKey, Phone, clock};

/// HTTP access to one server with one login and device.
#[derive(Clone)]
pub struct HttpTransport {
    client: Client,
    server: String,
    token: String,
    peer: String,
    /// The server did not take a deflated request: send them plain.
    plain: Arc<AtomicBool>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport").field("server", &self.server).field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// A PEM file of root certificates to trust besides the system's: a township whose server's
/// certificate comes from its own certificate authority.
pub const CA_FILE_ENV: &str = "ZHIBU_CA_FILE";

fn client() -> Result<Client, ClientError> {
    // rustls's cryptography: ring, as the server's database connections use (set once per
    // process; a provider some other part installed first is as good). rustls deprecates it
    // for lacking post-quantum key exchange; its other provider, aws-lc-rs, needs cmake and
    // NASM to build, on every phone toolchain too.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = Client::builder()
        .connect_timeout(Duration::from_secs(15))
        // A 2G line moves a few KB per second: a large first sync may take minutes, so what
        // is bounded is a silence, not the whole exchange (which only a stuck server exceeds).
        .read_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(30 * 60))
        // A redirect would resend the login's password or the token elsewhere.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = std::env::var_os(CA_FILE_ENV) {
        let pem = std::fs::read(&path).map_err(|e| {
            ClientError::Offline(format!("无法读取 {CA_FILE_ENV} 指定的证书文件 {}：{e}", path.to_string_lossy()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ClientError::Offline(format!("{CA_FILE_ENV} 指定的证书文件 {} 无法解析：{e}", path.to_string_lossy()))
        })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| ClientError::Internal(format!("HTTP client: {e}")))
}

/// The base URL without a trailing `/`. With no scheme given, `https://`, as a township's
/// server is reached over the Internet; `http://` only for this machine itself (the demo).
fn normalize(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        return server.to_owned();
    }
    let host = server.split('/').next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    format!("{}://{server}", if local { "http" } else { "https" })
}

fn network(e: &reqwest::Error) -> TransportError {
    let host = e.url().and_then(|u| u.host_str().map(|h| format!(" {h}"))).unwrap_or_default();
    // The causes' words, to tell a certificate the phone cannot trust from a line that is down.
    let mut causes = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes += &cause.to_string().to_ascii_lowercase();
        source = cause.source();
    }
    TransportError::Network(if e.is_timeout() {
        format!("连接服务器{host}超时")
    } else if causes.contains("certificate") || causes.contains("invalidcertificate") {
        format!("服务器{host}的证书无法验证（若用乡镇自己的证书，请用 {CA_FILE_ENV} 指定）")
    } else if causes.contains("wrong version number") || causes.contains("corrupt message") {
        format!("服务器{host}没有启用 HTTPS；若确实如此，请在地址前写 http://")
    } else if e.is_connect() {
        format!("连不上服务器{host}")
    } else {
        format!("网络错误：{e}")
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    violations: Vec<Violation>,
}

/// Sends a request and sorts the answer: a 2xx response, or the error it means.
async fn send(request: RequestBuilder) -> Result<Response, TransportError> {
    let response = request.send().await.map_err(|e| network(&e))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // Read as every reply is, to its limit.
    let body = body(response).await.unwrap_or_default();
    let detail = serde_json::from_slice::<ErrorBody>(&body).ok().map(|b| b.error);
    // Without API.md's body the answer came from something in front of the server (a proxy, a
    // gateway, the wrong address): said in Chinese, with its status.
    let message = detail.as_ref().map_or_else(|| status_text(status), |d| d.message.clone());
    Err(match status {
        StatusCode::UNAUTHORIZED => TransportError::Unauthorized(message),
        StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS => {
            TransportError::Network(format!("{BUSY}（{}）：{message}", status.as_u16()))
        }
        s if s.is_client_error() => TransportError::Refused(ServerRefusal {
            status: s.as_u16(),
            code: detail.as_ref().map_or_else(|| "http_error".to_owned(), |d| d.code.clone()),
            message,
            violations: detail.map(|d| d.violations).unwrap_or_default(),
        }),
        s => TransportError::Network(format!("服务器暂时无法处理（{}）：{message}", s.as_u16())),
    })
}

/// How a busy server's answer begins (408, 409, 429): the edits wait, the login says so.
const BUSY: &str = "服务器忙";

/// A login's 429 in the server's own words (too many failed logins, and when to try again):
/// the server is not busy, the name is locked for a while.
fn throttled(message: String) -> String {
    match message.strip_prefix(&format!("{BUSY}（429）：")) {
        Some(words) => words.to_owned(),
        None => message,
    }
}

/// An HTTP status without the server's own words.
fn status_text(status: StatusCode) -> String {
    let code = status.as_u16();
    match code {
        404 | 405 => format!("服务器地址不对，或不是 zhibu 服务器（HTTP {code}）"),
        413 => format!("请求太大，服务器或其前面的代理不接受（HTTP {code}）"),
        502..=504 => format!("服务器暂时无法访问（HTTP {code}）"),
        _ => format!("服务器回答 HTTP {code}"),
    }
}

/// The most a reply may hold, as sent and inflated: far beyond any village's records (a busy
/// year is 35 KB on the wire), and far below what would exhaust a phone's memory.
const REPLY_LIMIT: usize = 64 * 1024 * 1024;

async fn body(mut response: Response) -> Result<Vec<u8>, TransportError> {
    if response.content_length().is_some_and(|n| n > REPLY_LIMIT as u64) {
        return Err(undecodable("回复太大"));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| network(&e))? {
        if out.len() + chunk.len() > REPLY_LIMIT {
            return Err(undecodable("回复太大"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// HTTP's "deflate" content coding: the zlib format.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::with_capacity(bytes.len() / 2), flate2::Compression::default());
    e.write_all(bytes).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// Inflates a deflated reply, to no more than a phone should ever hold in one reply.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    const LIMIT: u64 = REPLY_LIMIT as u64;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes).take(LIMIT + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
    if out.len() as u64 > LIMIT {
        return Err("回复解压后太大".to_owned());
    }
    Ok(out)
}

fn undecodable(e: impl fmt::Display) -> TransportError {
    TransportError::Network(format!("服务器的回复无法解析：{e}"))
}

impl HttpTransport {
    /// Access to `server` with a bearer `token`, as device `peer` (`X-Peer-Id`).
    pub fn new(server: &str, token: &str, peer: &str) -> Result<HttpTransport, ClientError> {
        Ok(HttpTransport {
            client: client()?,
            server: normalize(server),
            token: token.to_owned(),
            peer: peer.to_owned(),
            plain: Arc::default(),
        })
    }

    /// Access with the phone's login and device id.
    pub fn for_phone(phone: &Phone) -> Result<HttpTransport, ClientError> {
        let session = phone.session().ok_or(ClientError::NotLoggedIn)?;
        HttpTransport::new(&session.server, &session.token, phone.device().peer_id())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn doc_path(key: &DocKey) -> String {
        format!("/v1/villages/{}/years/{}", key.village, key.year)
    }
}

impl HttpTransport {
    /// `POST /v1/sync` with a CBOR body, deflated or not.
    async fn post_fast(&self, payload: Vec<u8>, deflated: bool) -> Result<FastResponse, TransportError> {
        let mut request = self
            .client
            .post(self.url("/v1/sync"))
            .bearer_auth(&self.token)
            .header("X-Peer-Id", &self.peer)
            .header("Content-Type", "application/cbor")
            .header("Accept-Encoding", "deflate");
        if deflated {
            request = request.header("Content-Encoding", "deflate");
        }
        let response = send(request.body(payload)).await?;
        let deflated_reply = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.to_str().is_ok_and(|v| v.trim().eq_ignore_ascii_case("deflate")));
        let bytes = body(response).await?;
        let bytes = if deflated_reply { inflate(&bytes).map_err(undecodable)? } else { bytes };
        FastResponse::decode(&bytes).map_err(undecodable)
    }
}

impl Transport for HttpTransport {
    async fn fast_sync(&self, request: FastRequest) -> Result<FastResponse, TransportError> {
        let body = request.encode();
        if self.plain.load(Ordering::Relaxed) {
            return self.post_fast(body, false).await;
        }
        // Deflated both ways: on a 2G line every byte is time. A server that cannot read a
        // deflated request refuses it as undecodable (400) or its coding as unsupported (415):
        // then this transport sends plain requests from now on.
        match self.post_fast(deflate(&body), true).await {
            Err(TransportError::Refused(r)) if r.status == 400 || r.status == 415 => {
                self.plain.store(true, Ordering::Relaxed);
                self.post_fast(body, false).await
            }
            other => other,
        }
    }

    async fn sync_message(&self, key: &DocKey, message: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        let request = self
            .client
            .post(self.url(&format!("{}/sync", Self::doc_path(key))))
            .bearer_auth(&self.token)
            .header("X-Peer-Id", &self.peer)
            .header("Content-Type", "application/octet-stream")
            .body(message);
        let response = send(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        body(response).await.map(Some)
    }

    async fn fetch_doc(&self, key: &DocKey) -> Result<Option<Vec<u8>>, TransportError> {
        let request = self.client.get(self.url(&format!("{}/doc", Self::doc_path(key)))).bearer_auth(&self.token);
        match send(request).await {
            Ok(response) => body(response).await.map(Some),
            // The server's own "no records yet" (API.md's body, code not_found), not a 404 of
            // something in front of it: a rebuild onto nothing would set the phone's edits aside.
            Err(TransportError::Refused(r)) if r.status == 404 && r.code == "not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn fetch_catalog(&self) -> Result<Catalog, TransportError> {
        let request = self.client.get(self.url("/v1/catalog")).bearer_auth(&self.token);
        let bytes = body(send(request).await?).await?;
        serde_json::from_slice(&bytes).map_err(undecodable)
    }
}

#[derive(Deserialize)]
struct LoginReply {
    token: String,
    account: Account,
}

/// Logs in to `server` with a user name and password, stores the login on the phone and
/// fetches the township's catalog. Needs the network once; after it the phone works offline.
pub async fn login(phone: &Phone, server: &str, username: &str, password: &str) -> Result<Session, ClientError> {
    let server = normalize(server);
    let request = client()?
        .post(format!("{server}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}));
    // A login is not a sync: its failures say what to check, not that edits were refused.
    let response = match send(request).await {
        Ok(r) => r,
        Err(TransportError::Unauthorized(m)) => return Err(ClientError::LoginFailed(m)),
        Err(TransportError::Refused(r)) => {
            return Err(ClientError::LoginFailed(format!(
                "服务器 {server} 没有接受登录请求（{}：{}），请检查服务器地址",
                r.status, r.message
            )));
        }
        // Too many failed logins (429): the server answered, and says when to try again.
        Err(TransportError::Network(m)) if m.starts_with(BUSY) => return Err(ClientError::LoginFailed(throttled(m))),
        Err(TransportError::Network(m)) => return Err(ClientError::LoginUnreachable(m)),
    };
    let bytes = body(response).await?;
    let reply: LoginReply = serde_json::from_slice(&bytes).map_err(undecodable)?;
    let session = Session { server, token: reply.token, account: reply.account };
    if let Err(e) = phone.set_session(session.clone()) {
        // The login is not kept on the phone: end it on the server as well.
        let request = client()?.post(format!("{}/v1/auth/logout", session.server)).bearer_auth(&session.token);
        if let Err(e) = send(request).await {
            tracing::info!(error = %e, "an unused login not ended on the server");
        }
        return Err(e);
    }
    let transport = HttpTransport::for_phone(phone)?;
    match transport.fetch_catalog().await {
        Ok(catalog) => phone.set_catalog(catalog)?,
        Err(e) => tracing::info!(error = %e, "catalog not fetched at login; the next sync fetches it"),
    }
    Ok(session)
}

/// Logs out: tells the server to revoke the token (if it can be reached) and forgets the login.
/// Documents and edits waiting to sync stay on the phone.
pub async fn logout(phone: &Phone) -> Result<(), ClientError> {
    if let Some(session) = phone.session() {
        let request = client()?.post(format!("{}/v1/auth/logout", session.server)).bearer_auth(&session.token);
        if let Err(e) = send(request).await {
            tracing::info!(error = %e, "logout not confirmed by the server");
        }
    }
    phone.clear_session()
}

/// Changes the password of the account logged in on this phone (`POST /v1/auth/password`):
/// the server ends every token of the account, this phone's among them, and answers with a new
/// one, which the phone keeps.
pub async fn change_password(phone: &Phone, old: &str, new: &str) -> Result<Session, ClientError> {
    let session = phone.session().ok_or(ClientError::NotLoggedIn)?;
    let request = client()?
        .post(format!("{}/v1/auth/password", session.server))
        .bearer_auth(&session.token)
        .json(&serde_json::json!({"old_password": old, "new_password": new}));
    let response = match send(request).await {
        Ok(r) => r,
        // Not a sync: a wrong old password is refused, not records.
        Err(TransportError::Refused(r)) => return Err(ClientError::NotAllowed(r.message)),
        Err(TransportError::Network(m)) if m.starts_with(BUSY) => return Err(ClientError::NotAllowed(throttled(m))),
        Err(e) => return Err(e.into()),
    };
    let reply: LoginReply = serde_json::from_slice(&body(response).await?).map_err(undecodable)?;
    let renewed = Session { server: session.server, token: reply.token, account: reply.account };
    phone.set_session(renewed.clone())?;
    Ok(renewed)
}

/// A member's own points as `GET /v1/me/points` returns them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyPoints {
    /// The member.
    pub member_id: String,
    /// The member's name.
    pub name: String,
    /// The member's village.
    pub village_id: String,
    /// The year.
    pub year: i64,
    /// 基础分.
    pub base: i32,
    /// The score.
    pub total: i32,
    /// The grade's code (`excellent`, ...); None for probationary members and members who left
    /// during the year.
    pub grade: Option<String>,
    /// The grade in Chinese (优秀, ...).
    pub grade_name: Option<String>,
    /// The day the member left the branch during the year, when they did (why no grade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_on: Option<String>,
    /// Every entry, by date.
    pub entries: Vec<MyPointsEntry>,
    /// When the phone fetched them (RFC 3339).
    #[serde(default)]
    pub fetched_at: Option<String>,
    /// Shown from the phone's copy because the server could not be reached.
    #[serde(default)]
    pub from_cache: bool,
}

/// One line of a member's points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyPointsEntry {
    /// The day.
    pub on: String,
    /// The rule's code.
    pub rule: String,
    /// The rule's name.
    #[serde(default)]
    pub rule_name: Option<String>,
    /// Points, positive or negative.
    pub delta: i32,
    /// `attendance` or `manual`.
    pub source: String,
    /// What it was for.
    #[serde(default)]
    pub note: Option<String>,
}

/// The logged-in member's own points for `year`, from the server; when the server cannot be
/// reached, the copy from the last fetch (marked `from_cache`), if there is one.
pub async fn fetch_my_points(phone: &Phone, year: Year) -> Result<MyPoints, ClientError> {
    let session = phone.session().ok_or(ClientError::NotLoggedIn)?;
    let cache = phone.dir().join(format!("me.{year}.json"));
    let request = client()?.get(format!("{}/v1/me/points?year={year}", session.server)).bearer_auth(&session.token);
    let fetched = match send(request).await {
        Ok(response) => body(response).await,
        Err(e) => Err(e),
    };
    match fetched {
        Ok(bytes) => {
            let mut points: MyPoints = serde_json::from_slice(&bytes).map_err(undecodable)?;
            points.fetched_at = Some(clock::format(clock::now()));
            let _guard = phone.lock();
            write_atomic(&cache, &serde_json::to_vec(&points).expect("points serialize"))?;
            Ok(points)
        }
        Err(TransportError::Network(e)) => {
            let cached = {
                let _guard = phone.lock();
                read_optional(&cache)?
            };
            match cached.and_then(|b| serde_json::from_slice::<MyPoints>(&b).ok()) {
                Some(points) => Ok(MyPoints { from_cache: true, ..points }),
                None => Err(ClientError::Offline(e)),
            }
        }
        // Not a sync: a member's own points are refused, not records.
        Err(TransportError::Refused(r)) => Err(ClientError::NotAllowed(r.message)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn a_server_without_a_scheme_is_reached_over_https_unless_it_is_this_machine() {
        assert_eq!(normalize("zhibu.example.gov.cn/"), "https://zhibu.example.gov.cn");
        assert_eq!(normalize(" 10.1.2.3:8443 "), "https://10.1.2.3:8443");
        assert_eq!(normalize("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(normalize("localhost:8080"), "http://localhost:8080");
        assert_eq!(normalize("[::1]:8080"), "http://[::1]:8080");
        assert_eq!(normalize("http://192.168.1.10:8080"), "http://192.168.1.10:8080");
    }
}
