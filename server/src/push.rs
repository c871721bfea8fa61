//! Storing an admitted push: the one path by which changes reach the database, whether a
//! phone sent them or the server made them (roster imports, the demo).
//!
//! In one transaction: claim the document's next version (or give up if another push won),
//! bind new actors to the account (refusing an actor another account holds), append the
//! changes, bring the projections up to date, compact when due, save the peer's sync state and
//! the device's last sync. The caller replies only after this returns `Ok(true)`.

use std::sync::Arc;

use automerge::sync::State;
use zhibu_schema::Catalog;
use zhibu_schema::sync::{Accepted, Refusal};

use crate::cache::Current;
use crate::db::accounts::bind_actor;
use crate::db::documents::{self, COMPACT_AFTER, Claim, DocKey};
use crate::db::{now_ms, projections};
use crate::error::AppResult;
use crate::state::AppState;

/// An admitted push and where it goes.
#[derive(Debug)]
pub struct Push<'a> {
    pub key: &'a DocKey,
    pub account: &'a str,
    /// The device (X-Peer-Id), or None for changes the server made itself.
    pub peer: Option<&'a str>,
    /// The document the push was computed against.
    pub base: &'a Current,
    pub accepted: Accepted,
    pub catalog: &'a Arc<Catalog>,
    /// The standard protocol's new state for this peer.
    pub sync_state: Option<&'a State>,
}

/// Stores a push. `Ok(false)`: another push reached the document first; reload and recompute.
pub async fn store(state: &AppState, p: Push<'_>) -> AppResult<bool> {
    let mut tx = state.db.pool.begin().await?;
    let peer = p.peer.unwrap_or("server");
    let accepted = p.accepted;
    let changed = !accepted.changes.is_empty();
    let mut next = None;
    if changed {
        let heads = accepted.doc.get_heads().iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        if documents::claim_version(&mut tx, p.key, p.base.version, &heads).await? == Claim::Conflict {
            return Ok(false);
        }
        for actor in &accepted.bind {
            if !bind_actor(&mut tx, &actor.to_hex_string(), p.account).await? {
                return Err(Refusal::ForeignActor { actor: actor.to_hex_string() }.into());
            }
        }
        documents::insert_changes(&mut tx, p.key, p.account, peer, &accepted.changes).await?;
        // The rows in the database were made from the base's records only if we know them
        // and they were made with this very catalog.
        let before = p.base.projected.as_ref().filter(|(_, c)| Arc::ptr_eq(c, p.catalog)).map(|(r, _)| r.as_ref());
        projections::update(&mut tx, p.key, before, &accepted.records, p.catalog, now_ms()).await?;
        let mut pending = p.base.pending + accepted.changes.len() as i64;
        if pending >= COMPACT_AFTER {
            documents::compact(&mut tx, p.key, &accepted.doc).await?;
            pending = 0;
        }
        next = Some(Current {
            doc: Arc::new(accepted.doc),
            version: p.base.version + 1,
            pending,
            projected: Some((Arc::new(accepted.records), p.catalog.clone())),
        });
    }
    if let (Some(s), Some(peer)) = (p.sync_state, p.peer) {
        documents::save_sync_state(&mut tx, p.key, peer, p.account, s).await?;
    }
    if let Some(peer) = p.peer {
        documents::touch_device(&mut tx, p.key, peer, p.account).await?;
    }
    tx.commit().await?;
    if let Some(next) = next {
        tracing::info!(village = %p.key.village, year = %p.key.year, account = p.account, peer, changes = accepted.changes.len(), "push stored");
        state.docs.put(p.key.clone(), next);
    }
    Ok(true)
}
