//! Sync endpoints: API.md's standard Automerge sync (`POST /v1/villages/V/years/Y/sync`) and
//! the phones' fast path (`POST /v1/sync`, documented in docs/API-EXTENSIONS.md).
//!
//! A push is accepted only when the sync core admits it (actors, validation); then its changes,
//! actor bindings, projections, the peer's sync state and the device's last sync are stored in
//! one transaction, and only after the commit is the reply sent. Nothing of a refused push is
//! stored.

use std::collections::HashSet;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use zhibu_schema::sync::bounds::Budget;
use zhibu_schema::sync::{FAST_VERSION, FastOutcome, FastReply, FastRequest, FastResponse, Refusal};

use super::Access;
use crate::admission::Pusher;
use crate::audit;
use crate::auth::Caller;
use crate::error::{AppError, AppResult, Said};
use crate::extract::Body;
use crate::push::{self, Push, Sender};
use crate::state::AppState;
use crate::throttle::ClientAddr;
use crate::together::{self, ATTEMPTS, FastPush};

const PEER_HEADER: &str = "x-peer-id";

fn peer_id(headers: &HeaderMap) -> AppResult<String> {
    let value = headers
        .get(PEER_HEADER)
        .ok_or_else(|| AppError::bad_request("缺少请求头 X-Peer-Id（设备编号）"))?
        .to_str()
        .map_err(|_| AppError::bad_request("X-Peer-Id 只能用可见的 ASCII 字符"))?;
    if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::bad_request("X-Peer-Id 应为 1 到 128 个可见的 ASCII 字符"));
    }
    Ok(value.to_owned())
}

fn require_content_type(headers: &HeaderMap, expected: &[&str]) -> AppResult<()> {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(ct) if expected.iter().any(|e| ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(e))) => {
            Ok(())
        }
        Some(ct) => Err(AppError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("请求内容类型应为 {}，不是 {ct}", expected.join(" 或 ")),
        )),
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Undecodable(m) => {
                AppError::client(StatusCode::BAD_REQUEST, "undecodable", format!("无法解析同步消息：{m}"))
            }
            Refusal::ForeignActor { .. } => AppError::client(StatusCode::FORBIDDEN, "foreign_actor", r.to_string()),
            Refusal::ForgedGenesis => AppError::client(StatusCode::FORBIDDEN, "forged_genesis", r.to_string()),
            Refusal::Invalid(v) => AppError::invalid(v),
        }
    }
}

/// Puts a refused sync (403, 422) in the audit log.
fn audit_refusal(caller: &Caller, addr: ClientAddr, village: &str, year: &str, e: &AppError) {
    if let AppError::Client { status, code, .. } = e
        && matches!(status.as_u16(), 403 | 422)
    {
        audit::sync_refused(&caller.account.id, addr, village, year, status.as_u16(), code);
    }
}

/// One message of the standard Automerge sync protocol.
#[utoipa::path(
    post,
    path = "/v1/villages/{village}/years/{year}/sync",
    tag = "sync",
    params(
        ("village" = String, Path, description = "村编号", pattern = "^[a-z0-9-]{1,64}$", example = "demo-1"),
        ("year" = i64, Path, description = "年度", minimum = 2000, maximum = 2100),
        ("X-Peer-Id" = String, Header, description = "设备编号：1 到 128 个可见 ASCII 字符", pattern = "^[!-~]{1,128}$", example = "phone-1"),
    ),
    request_body(content = crate::openapi::BinarySchema, content_type = "application/octet-stream", description = "一条 Automerge 同步消息"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "服务器的下一条同步消息", content_type = "application/octet-stream", body = crate::openapi::BinarySchema),
        (status = 204, description = "服务器没有更多要发送的"),
        crate::openapi::SyncErrors,
    )
)]
async fn standard(
    State(state): State<AppState>,
    addr: ClientAddr,
    caller: Caller,
    Path((village, year)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> AppResult<Response> {
    let result = standard_push(&state, &caller, &village, &year, &headers, body).await;
    if let Err(e) = &result {
        audit_refusal(&caller, addr, &village, &year, e);
    }
    result
}

async fn standard_push(
    state: &AppState,
    caller: &Caller,
    village: &str,
    year: &str,
    headers: &HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let key = super::doc_key(state, caller, Access::Write, village, year).await?;
    let peer = peer_id(headers)?;
    require_content_type(headers, &["application/octet-stream"])?;
    // Inflated only for a caller who may push here.
    let body = crate::deflate::request_body(headers, body, state.config.max_body_bytes)?;
    let mine = state.db.actors_of(&caller.account.id).await?;
    let pusher = Pusher { account: &caller.account.id, mine: &mine };
    let _turn = (state.gates.document(&key).await, state.gates.push().await);
    for _ in 0..ATTEMPTS {
        let mut base = state.load_doc(&key).await?;
        let catalog = together::catalog_after(state, &key).await?;
        let sync_state = state.db.load_sync_state(&key, &peer, &caller.account.id).await?;
        let step = crate::admission::standard(state, &key, &mut base, sync_state, &body, &catalog, pusher).await?;
        let senders = vec![Sender::only(&caller.account.id, Some(&peer), Some(&step.state), &step.accepted)];
        let push = Push { key: &key, base: &base, accepted: step.accepted, catalog: &catalog, senders };
        if push::store(state, push).await? {
            return Ok(match step.reply {
                Some(bytes) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], bytes)
                    .into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            });
        }
    }
    Err(AppError::busy())
}

/// The phones' fast path: every document of a device in one round trip (CBOR; see docs/API-EXTENSIONS.md).
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "sync",
    params(("X-Peer-Id" = String, Header, description = "设备编号：1 到 128 个可见 ASCII 字符", pattern = "^[!-~]{1,128}$", example = "phone-1")),
    request_body(content = crate::openapi::BinarySchema, content_type = "application/cbor", description = "{v: 1, docs: [{village, year, known, heads, changes}]}"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "每份文档的结果：synced、resync 或 refused", content_type = "application/cbor", body = crate::openapi::BinarySchema),
        crate::openapi::FastSyncErrors,
    )
)]
async fn fast(
    State(state): State<AppState>,
    addr: ClientAddr,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> AppResult<Response> {
    let peer = peer_id(&headers)?;
    require_content_type(&headers, &["application/cbor"])?;
    let body = crate::deflate::request_body(&headers, body, state.config.max_body_bytes)?;
    let request = FastRequest::decode(&body).map_err(|e| AppError::bad_request(e.to_string()))?;
    if request.v != FAST_VERSION {
        return Err(AppError::bad_request(format!("快速同步协议版本 {} 不受支持，请升级程序", request.v)));
    }
    if request.docs.len() > 64 {
        return Err(AppError::bad_request("一次最多同步 64 份文档"));
    }
    let mut named = HashSet::new();
    if let Some(twice) = request.docs.iter().find(|d| !named.insert((&d.village, d.year))) {
        return Err(AppError::bad_request(format!(
            "一次同步中村 {} 的 {} 年文档出现了两次",
            twice.village, twice.year
        )));
    }
    // Who may write which document, first: nothing of a document the caller may not write is
    // inflated or read.
    let mut keys = Vec::with_capacity(request.docs.len());
    for doc in &request.docs {
        keys.push(super::doc_key(&state, &caller, Access::Write, doc.village.as_str(), &doc.year.to_string()).await);
    }
    // The bounds on what chunks inflate to and declare hold for the request, in all, not for
    // each of its documents: 64 documents would otherwise ask 64 times as much. A request past
    // them is too large (413), which a phone answers by sending its documents one at a time.
    let writable: Vec<bool> = keys.iter().map(Result::is_ok).collect();
    let short = body.len() <= crate::admission::SHORT_PUSH_BYTES;
    let (request, bounded) = state
        .gates
        .cpu_if_short(short, move || {
            let docs = request.docs.iter().zip(writable).filter(|(_, w)| *w).map(|(d, _)| d);
            let bounded = Budget::check_all(docs.flat_map(|d| d.changes.iter().map(|c| c.as_slice())));
            (request, bounded)
        })
        .await;
    if let Err(refusal) = bounded {
        return Err(AppError::client(StatusCode::PAYLOAD_TOO_LARGE, "too_large", refusal.to_string()));
    }
    let mine = state.db.actors_of(&caller.account.id).await?;
    let mut docs = Vec::with_capacity(request.docs.len());
    let mut unavailable = None;
    for (doc, key) in request.docs.iter().zip(keys) {
        // A document the server fails on (its database out of reach, say) is that document's
        // 5xx, and the others' outcomes, stored already, still reach the phone; once the
        // database is out of reach, the rest are not tried (each would wait for it).
        let result = match (key, &unavailable) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(cause)) => Err(AppError::Unavailable(String::clone(cause))),
            (Ok(key), None) => {
                together::fast(
                    &state,
                    FastPush { key: &key, doc, account: &caller.account.id, peer: &peer, mine: &mine },
                )
                .await
            }
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                if let AppError::Unavailable(cause) = &e {
                    unavailable.get_or_insert_with(|| cause.clone());
                }
                let Said { status, code, message, violations } = e.said();
                if matches!(status.as_u16(), 403 | 422) {
                    let year = doc.year.to_string();
                    audit::sync_refused(&caller.account.id, addr, doc.village.as_str(), &year, status.as_u16(), code);
                }
                FastOutcome::Refused { status: status.as_u16(), code: code.to_owned(), message, violations }
            }
        };
        docs.push(FastReply { village: doc.village.clone(), year: doc.year, outcome });
    }
    // The catalog is a courtesy: one that cannot be read now is asked for again next time.
    let catalog = match &request.catalog {
        Some(theirs) if unavailable.is_none() => match crate::admission::catalog(&state, &caller, theirs).await {
            Ok(c) => Some(c),
            Err(e) => {
                let _logged = e.said();
                None
            }
        },
        _ => None,
    };
    let response = FastResponse { v: FAST_VERSION, docs, catalog };
    Ok(crate::deflate::reply(crate::deflate::accepted(&headers), "application/cbor", response.encode()))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/villages/{village}/years/{year}/sync", post(standard)).route("/v1/sync", post(fast))
}
