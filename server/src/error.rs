//! The server's error type. Client mistakes become a 4xx with API.md's JSON body
//! `{"error": {"code", "message"}}` and a Chinese message a person can act on; internal errors
//! become a generic 500 whose cause is logged, never shown. A database out of reach (down,
//! restarting, the connection broken mid-query) is a 503 however deep the error was wrapped;
//! a throttled login is a 429 with `Retry-After`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use zhibu_schema::Violation;

#[derive(Debug)]
pub enum AppError {
    /// A client mistake: status, stable code, message for a person, and violations if any.
    Client { status: StatusCode, code: &'static str, message: String, violations: Vec<Violation> },
    /// Too many failed logins: 429 with `Retry-After`, until the throttle's window ends.
    Throttled { retry_after: std::time::Duration },
    /// The database is out of reach: 503, the client should retry.
    Unavailable(String),
    /// Anything else: logged, answered with a bare 500.
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError::Client { status, code, message: message.into(), violations: Vec::new() }
    }
    /// The answer to a request whose document kept changing under it (other server processes
    /// storing first at every attempt): try again later.
    pub fn busy() -> Self {
        Self::client(StatusCode::CONFLICT, "busy", "该村的记录正被频繁修改，请稍后重试")
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized() -> Self {
        Self::client(StatusCode::UNAUTHORIZED, "unauthorized", "未登录或登录已过期，请重新登录")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::client(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn invalid(violations: Vec<Violation>) -> Self {
        let message = match violations.as_slice() {
            [] => "记录不合规".to_owned(),
            [one] => one.to_string(),
            [first, rest @ ..] => format!("{first}（另有 {} 处问题）", rest.len()),
        };
        AppError::Client { status: StatusCode::UNPROCESSABLE_ENTITY, code: "invalid_records", message, violations }
    }

    /// The same error again, for each of several requests one failure answers.
    pub fn again(&self) -> AppError {
        match self {
            AppError::Client { status, code, message, violations } => {
                AppError::Client { status: *status, code, message: message.clone(), violations: violations.clone() }
            }
            AppError::Throttled { retry_after } => AppError::Throttled { retry_after: *retry_after },
            AppError::Unavailable(cause) => AppError::Unavailable(cause.clone()),
            AppError::Internal(cause) => AppError::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Client { status, .. } => *status,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Whether a database error means the database is out of reach (down, restarting, refusing
/// connections, or the connection broke), as opposed to a fault in the query or the data.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            db.code().and_then(|c| c.parse().ok()).is_some_and(sqlite_unavailable)
        }
        // PostgreSQL's SQLSTATE classes 08 (connection exception) and 57 (operator
        // intervention: shutting down, starting up, crash recovery), too many connections, a
        // full disk, a lock not available, and a serialization failure or deadlock (the
        // transaction was rolled back and may be tried again).
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("57") || ["53300", "53100", "55P03", "40001", "40P01"].contains(&&*c)
        }),
        _ => false,
    }
}

/// Whether an SQLite result code (extended or primary) means the database cannot be used for
/// now, as opposed to a fault in the query or the data: busy or locked by another program, not
/// writable, a disk error or a full disk, a file that cannot be opened. The client tries again
/// later; nothing it sent was stored.
fn sqlite_unavailable(code: i32) -> bool {
    use rusqlite::ffi;
    matches!(
        code & 0xff,
        ffi::SQLITE_BUSY
            | ffi::SQLITE_LOCKED
            | ffi::SQLITE_READONLY
            | ffi::SQLITE_IOERR
            | ffi::SQLITE_FULL
            | ffi::SQLITE_CANTOPEN
    )
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) { AppError::Unavailable(e.to_string()) } else { AppError::Internal(e.into()) }
    }
}

impl From<anyhow::Error> for AppError {
    /// A database that is out of reach is 503 also when the error was wrapped on its way up.
    fn from(e: anyhow::Error) -> Self {
        // The SQLite writer's own connection (rusqlite), or any pooled connection (sqlx).
        let rusqlite_unavailable = |c: &rusqlite::Error| match c {
            rusqlite::Error::SqliteFailure(f, _) => sqlite_unavailable(f.extended_code),
            _ => false,
        };
        if e.chain().any(|c| c.is::<crate::db::documents::KeptChanging>()) {
            return AppError::busy();
        }
        if e.chain().filter_map(|c| c.downcast_ref::<sqlx::Error>()).any(is_unavailable)
            || e.chain().filter_map(|c| c.downcast_ref::<rusqlite::Error>()).any(rusqlite_unavailable)
        {
            AppError::Unavailable(format!("{e:#}"))
        } else {
            AppError::Internal(e)
        }
    }
}

/// The JSON error body of API.md.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message}})
}

/// An error as its answer says it: status, code, message and violations. A server fault is
/// logged here, its cause never shown to the client.
#[derive(Debug)]
pub struct Said {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub violations: Vec<Violation>,
}

impl AppError {
    /// What the answer says, the fault logged (see [`Said`]).
    pub fn said(self) -> Said {
        let bare = |status, code, message: &str| Said { status, code, message: message.to_owned(), violations: vec![] };
        match self {
            AppError::Client { status, code, message, violations } => Said { status, code, message, violations },
            AppError::Throttled { retry_after } => {
                bare(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", &throttled_message(retry_after))
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                bare(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "服务器暂时无法访问数据库，请稍后再试")
            }
            AppError::Internal(cause) => {
                tracing::error!(cause = %format!("{cause:#}"), "internal error");
                bare(StatusCode::INTERNAL_SERVER_ERROR, "internal", "服务器内部错误，请稍后再试或联系管理员")
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            AppError::Throttled { retry_after } => Some(crate::throttle::seconds(*retry_after).to_string()),
            _ => None,
        };
        let Said { status, code, message, violations } = self.said();
        let mut body = error_body(code, &message);
        if !violations.is_empty() {
            body["error"]["violations"] = json!(violations);
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(v) = retry_after.and_then(|secs| axum::http::HeaderValue::from_str(&secs).ok()) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => AppError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求须为 JSON（Content-Type: application/json）",
            ),
            JsonRejection::BytesRejection(b) => b.into(),
            // serde's words are English: said in Chinese, the detail kept in the log.
            other => {
                let text = other.body_text();
                tracing::debug!(detail = %text, "JSON body refused");
                let named = text.split('`').nth(1).filter(|n| !n.is_empty() && n.len() <= 64);
                let message = match (&other, named) {
                    (JsonRejection::JsonSyntaxError(_), _) => "请求内容不是有效的 JSON".to_owned(),
                    (_, Some(name)) if text.contains("missing field") => format!("请求内容缺少「{name}」"),
                    (_, Some(name)) if text.contains("unknown field") => format!("请求内容中没有「{name}」这一项"),
                    _ => "请求内容的字段或取值不对".to_owned(),
                };
                AppError::bad_request(message)
            }
        }
    }
}

impl From<BytesRejection> for AppError {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "请求内容太大")
        } else {
            AppError::bad_request(format!("无法读取请求内容：{}", r.body_text()))
        }
    }
}

impl From<QueryRejection> for AppError {
    /// In Chinese, for the people who read it on a page: serde's words are English.
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let named = text.split('`').nth(1).filter(|n| !n.is_empty() && n.len() <= 64);
        let message = match named {
            Some(name) if text.contains("duplicate field") => format!("查询参数「{name}」写了不止一次"),
            Some(name) if text.contains("missing field") => format!("缺少查询参数「{name}」"),
            _ => "查询参数不对（编码或取值有误），请检查网址".to_owned(),
        };
        tracing::debug!(detail = %text, "query refused");
        AppError::bad_request(message)
    }
}

/// The Chinese refusal of a throttled login, saying when to try again.
pub fn throttled_message(retry_after: std::time::Duration) -> String {
    format!("登录失败次数过多，请 {} 分钟后再试", crate::throttle::minutes(retry_after))
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Client { message, .. } => f.write_str(message),
            AppError::Throttled { retry_after } => f.write_str(&throttled_message(*retry_after)),
            AppError::Unavailable(cause) => write!(f, "数据库无法访问：{cause}"),
            AppError::Internal(cause) => write!(f, "{cause:#}"),
        }
    }
}

impl std::error::Error for AppError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document that kept changing at every attempt is the client's to try again (409), also
    /// when the error was wrapped on its way up; a server fault's cause is logged, not said.
    #[test]
    fn a_document_kept_changing_is_busy_and_a_fault_says_no_cause() {
        let wrapped = anyhow::Error::from(crate::db::documents::KeptChanging("v1".into())).context("loading");
        let said = AppError::from(wrapped).said();
        assert_eq!((said.status, said.code), (StatusCode::CONFLICT, "busy"));
        let said = AppError::Internal(anyhow::anyhow!("secret path /var/lib")).said();
        assert_eq!((said.status, said.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        assert!(!said.message.contains("secret"), "{}", said.message);
    }

    /// A database another program holds, or a full disk, is 503 (try again later) on SQLite as
    /// on PostgreSQL, through the writer's connection and through the pool's.
    #[tokio::test]
    async fn a_busy_sqlite_database_is_unavailable_not_internal() {
        use sqlx::ConnectOptions;
        use sqlx::sqlite::SqliteConnectOptions;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("busy.db");
        let holder = rusqlite::Connection::open(&path).expect("open");
        holder.execute_batch("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").expect("hold");

        let writer = rusqlite::Connection::open(&path).expect("open");
        writer.busy_timeout(std::time::Duration::ZERO).expect("timeout");
        let busy = writer.execute("INSERT INTO t VALUES (2)", []).expect_err("busy");
        let err = AppError::from(anyhow::Error::from(busy).context("while storing a push"));
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE, "{err:?}");

        let options = SqliteConnectOptions::new().filename(&path).busy_timeout(std::time::Duration::ZERO);
        let mut pooled = options.connect().await.expect("connect");
        let busy = sqlx::query("INSERT INTO t VALUES (3)").execute(&mut pooled).await.expect_err("busy");
        assert_eq!(AppError::from(busy).status(), StatusCode::SERVICE_UNAVAILABLE);

        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        assert_eq!(AppError::from(anyhow::Error::from(full)).status(), StatusCode::SERVICE_UNAVAILABLE);
        let constraint =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT), None);
        assert_eq!(AppError::from(anyhow::Error::from(constraint)).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
