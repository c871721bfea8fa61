//! Sync endpoints: API.md's standard Automerge sync (`POST /v1/villages/V/years/Y/sync`) and
//! the phones' fast path (`POST /v1/sync`, documented in the README).
//!
//! A push is accepted only when the sync core admits it (actors, validation); then its changes,
//! actor bindings, projections, the peer's sync state and the device's last sync are stored in
//! one transaction, and only after the commit is the reply sent. Nothing of a refused push is
//! stored.

use std::collections::HashSet;
use std::sync::Arc;

use automerge::ActorId;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use zhibu_schema::Catalog;
use zhibu_schema::sync::{
    FAST_VERSION, FastOutcome, FastReply, FastRequest, FastResponse, Gate, Owner, Refusal, receive_fast, receive_sync,
};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::extract::Body;
use crate::push::{self, Push};
use crate::state::AppState;

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

fn owner_of(mine: &HashSet<String>) -> impl Fn(&ActorId) -> Owner + '_ {
    // Actors bound to other accounts are caught when binding, inside the transaction.
    move |actor| if mine.contains(&actor.to_hex_string()) { Owner::Caller } else { Owner::Unbound }
}

/// How often a push is recomputed when other pushes to the same document keep winning.
const ATTEMPTS: usize = 8;

async fn standard(
    State(state): State<AppState>,
    caller: Caller,
    Path((village, year)): Path<(String, String)>,
    headers: HeaderMap,
    Body(body): Body,
) -> AppResult<Response> {
    let key = super::doc_key(&state, &village, &year).await?;
    caller.require_cadre_of(&key.village)?;
    let peer = peer_id(&headers)?;
    require_content_type(&headers, &["application/octet-stream"])?;
    let catalog = state.catalog_for(Some(&key.township)).await?;
    let mine = state.db.actors_of(&caller.account.id).await?;
    let owner = owner_of(&mine);
    for _ in 0..ATTEMPTS {
        let base = state.load_doc(&key).await?;
        let sync_state = state.db.load_sync_state(&key, &peer).await?;
        let gate = Gate { village: &key.village, year: key.year, catalog: &catalog, owner: &owner };
        let step = receive_sync(&base.doc, &sync_state, &body, &gate)?;
        let push = Push {
            key: &key,
            account: &caller.account.id,
            peer: Some(&peer),
            base: &base,
            accepted: step.accepted,
            catalog: &catalog,
            sync_state: Some(&step.state),
        };
        if push::store(&state, push).await? {
            return Ok(match step.reply {
                Some(bytes) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], bytes)
                    .into_response(),
                None => StatusCode::NO_CONTENT.into_response(),
            });
        }
    }
    Err(AppError::client(StatusCode::CONFLICT, "busy", "该村的记录正被频繁修改，请稍后重试"))
}

/// One document of a fast request: stored, or refused, or asked to resync.
async fn fast_one(
    state: &AppState,
    caller: &Caller,
    peer: &str,
    doc: &zhibu_schema::sync::FastDoc,
    mine: &HashSet<String>,
) -> AppResult<FastOutcome> {
    let key = super::doc_key(state, doc.village.as_str(), &doc.year.to_string()).await?;
    caller.require_cadre_of(&key.village)?;
    let catalog: Arc<Catalog> = state.catalog_for(Some(&key.township)).await?;
    let owner = owner_of(mine);
    for _ in 0..ATTEMPTS {
        let base = state.load_doc(&key).await?;
        let gate = Gate { village: &key.village, year: key.year, catalog: &catalog, owner: &owner };
        let Some((accepted, outcome)) = receive_fast(&base.doc, doc, &gate)? else {
            return Ok(FastOutcome::Resync);
        };
        let push = Push {
            key: &key,
            account: &caller.account.id,
            peer: Some(peer),
            base: &base,
            accepted,
            catalog: &catalog,
            sync_state: None,
        };
        if push::store(state, push).await? {
            return Ok(outcome);
        }
    }
    Err(AppError::client(StatusCode::CONFLICT, "busy", "该村的记录正被频繁修改，请稍后重试"))
}

async fn fast(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> AppResult<Response> {
    let peer = peer_id(&headers)?;
    require_content_type(&headers, &["application/cbor"])?;
    let request = FastRequest::decode(&body).map_err(|e| AppError::bad_request(e.to_string()))?;
    if request.v != FAST_VERSION {
        return Err(AppError::bad_request(format!("快速同步协议版本 {} 不受支持，请升级程序", request.v)));
    }
    if request.docs.len() > 64 {
        return Err(AppError::bad_request("一次最多同步 64 份文档"));
    }
    let mine = state.db.actors_of(&caller.account.id).await?;
    let mut docs = Vec::with_capacity(request.docs.len());
    for doc in &request.docs {
        let outcome = match fast_one(&state, &caller, &peer, doc, &mine).await {
            Ok(o) => o,
            Err(AppError::Client { status, code, message, violations }) => {
                FastOutcome::Refused { status: status.as_u16(), code: code.to_owned(), message, violations }
            }
            Err(other) => return Err(other),
        };
        docs.push(FastReply { village: doc.village.clone(), year: doc.year, outcome });
    }
    let response = FastResponse { v: FAST_VERSION, docs };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/cbor"))], response.encode()).into_response())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/villages/{village}/years/{year}/sync", post(standard)).route("/v1/sync", post(fast))
}
