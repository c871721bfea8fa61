//! A stand-in for the server's HTTP API: the in-process [`Server`] (the real sync core) behind
//! a minimal HTTP/1.1 listener, one request per connection. Just enough of API.md for the
//! phone's HTTP transport and the `zhibu` program: login, catalog, both sync endpoints, the
//! document, a member's points; bearer tokens `tok-ACCOUNT` that can be revoked.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zhibu_client::zhibu_schema::sync::FastRequest;
use zhibu_client::zhibu_schema::{MemberId, VillageId, Year, mapping, member_score};
use zhibu_client::{DocKey, TransportError};

use super::server::Server;

pub const PASSWORD: &str = "pass-1234";

/// The running stand-in.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub server: Arc<Mutex<Server>>,
    pub revoked: Arc<Mutex<HashSet<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpServer {
    /// Serves `server` on `addr` (port 0: any free port).
    pub async fn start(server: Server, addr: SocketAddr) -> HttpServer {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Arc::new(Mutex::new(server));
        let revoked = Arc::new(Mutex::new(HashSet::new()));
        let (s, r) = (server.clone(), revoked.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &s, &r).await;
                });
            }
        });
        HttpServer { addr, server, revoked, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let (method, path) = (first.next().unwrap_or_default().to_owned(), first.next().unwrap_or_default().to_owned());
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))).collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Request { method, path, headers, body }))
}

type Response = (u16, &'static str, Vec<u8>);

fn error(status: u16, code: &str, message: &str, violations: Value) -> Response {
    let body = json!({"error": {"code": code, "message": message, "violations": violations}});
    (status, "application/json", body.to_string().into_bytes())
}

fn refused(e: TransportError) -> Response {
    match e {
        TransportError::Refused(r) => error(r.status, &r.code, &r.message, json!(r.violations)),
        other => error(400, "bad_request", &other.to_string(), json!([])),
    }
}

fn route(req: &Request, server: &Mutex<Server>, revoked: &Mutex<HashSet<String>>) -> Response {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    if (req.method.as_str(), path) == ("POST", "/v1/auth/login") {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let user = body["username"].as_str().unwrap_or_default();
        if body["password"] != PASSWORD {
            return error(401, "bad_credentials", "用户名或密码不对", json!([]));
        }
        let role = if user.starts_with("v1-m") { "member" } else { "cadre" };
        let mut account = json!({"id": user, "role": role, "township_id": "t1", "village_id": "v1"});
        if role == "member" {
            account["member_id"] = json!(user);
        }
        revoked.lock().unwrap().remove(user);
        return (
            200,
            "application/json",
            json!({"token": format!("tok-{user}"), "account": account}).to_string().into_bytes(),
        );
    }
    let account = req.header("authorization").and_then(|v| v.strip_prefix("Bearer tok-")).map(str::to_owned);
    let Some(account) = account.filter(|a| !revoked.lock().unwrap().contains(a)) else {
        return error(401, "unauthorized", "未登录或登录已过期，请重新登录", json!([]));
    };
    let peer = req.header("x-peer-id").unwrap_or("none").to_owned();
    let mut server = server.lock().unwrap();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["v1", "auth", "logout"]) => {
            revoked.lock().unwrap().insert(account);
            (200, "application/json", b"{\"ok\":true}".to_vec())
        }
        ("GET", ["v1", "catalog"]) => (200, "application/json", serde_json::to_vec(&server.catalog).unwrap()),
        ("POST", ["v1", "sync"]) if server.fast_path_status.is_some() => {
            (server.fast_path_status.unwrap_or(404), "text/html", b"<html>Request Entity Too Large</html>".to_vec())
        }
        ("POST", ["v1", "sync"]) => match FastRequest::decode(&req.body) {
            Ok(request) => match server.fast(&account, &request) {
                Ok(response) => (200, "application/cbor", response.encode()),
                Err(e) => refused(e),
            },
            Err(e) => error(400, "bad_request", &e.to_string(), json!([])),
        },
        (method, ["v1", "villages", village, "years", year, what]) => {
            let key = DocKey::new(VillageId::parse(village).unwrap(), Year::new(year.parse().unwrap()).unwrap());
            if key.village.as_str() != "v1" || account.starts_with("v1-m") {
                return error(403, "forbidden", &format!("本账号无权修改村「{village}」的记录"), json!([]));
            }
            match (method, *what) {
                ("POST", "sync") => match server.standard(&account, &peer, &key, &req.body) {
                    Ok(Some(reply)) => (200, "application/octet-stream", reply),
                    Ok(None) => (204, "application/octet-stream", Vec::new()),
                    Err(e) => refused(e),
                },
                ("GET", "doc") if server.doc_path_status.is_some() => {
                    (server.doc_path_status.unwrap_or(404), "text/html", b"<html>Not Found</html>".to_vec())
                }
                ("GET", "doc") => match server.doc_bytes(&key) {
                    Some(bytes) => (200, "application/octet-stream", bytes),
                    None => error(404, "not_found", "还没有任何记录", json!([])),
                },
                _ => error(404, "not_found", "没有这个接口", json!([])),
            }
        }
        ("GET", ["v1", "me", "points"]) => {
            let year: i64 = query.strip_prefix("year=").and_then(|y| y.parse().ok()).unwrap_or(0);
            let key = DocKey::new(VillageId::parse("v1").unwrap(), Year::new(year).unwrap());
            let records = mapping::read(&server.docs[&key]).unwrap().doc;
            let Some(score) = member_score(&records, &server.catalog, &MemberId::parse(&account).unwrap()) else {
                return error(404, "not_found", "名册上没有您", json!([]));
            };
            let entries: Vec<Value> = score
                .entries
                .iter()
                .map(|e| json!({"on": e.on, "rule": e.rule, "delta": e.delta, "source": e.source.code(), "note": e.note}))
                .collect();
            let body = json!({
                "member_id": score.member_id, "name": score.name, "village_id": "v1", "year": year,
                "base": score.base, "total": score.total, "grade": score.grade.map(|g| g.code()),
                "grade_name": score.grade.map(|g| g.label()), "entries": entries,
            });
            (200, "application/json", body.to_string().into_bytes())
        }
        _ => error(404, "not_found", "没有这个接口", json!([])),
    }
}

async fn serve(mut stream: TcpStream, server: &Mutex<Server>, revoked: &Mutex<HashSet<String>>) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await? else { return Ok(()) };
    let (status, content_type, body) = route(&req, server, revoked);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}
