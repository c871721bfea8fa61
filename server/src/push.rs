//! Storing an admitted push: the one path by which changes reach the database, whether a
//! phone sent them or the server made them (roster imports, the demo).
//!
//! In one transaction: claim the document's next version (or give up if another push won),
//! bind new actors to the account (refusing an actor another account holds), append the
//! changes, rebuild the projections, compact when due, save the peer's sync state and the
//! device's last sync. The caller replies only after this returns `Ok(true)`.

use automerge::sync::State;
use zhibu_schema::Catalog;
use zhibu_schema::sync::{Accepted, Refusal};

use crate::db::accounts::bind_actor;
use crate::db::documents::{self, Claim, DocKey};
use crate::db::{Db, now_ms, projections};
use crate::error::AppResult;

/// An admitted push and where it goes.
#[derive(Debug)]
pub struct Push<'a> {
    pub key: &'a DocKey,
    pub account: &'a str,
    /// The device (X-Peer-Id), or None for changes the server made itself.
    pub peer: Option<&'a str>,
    /// The document version the push was computed against.
    pub version: i64,
    /// Changes pending compaction in that version.
    pub pending: i64,
    pub accepted: &'a Accepted,
    pub catalog: &'a Catalog,
    /// The standard protocol's new state for this peer.
    pub sync_state: Option<&'a State>,
}

/// Stores a push. `Ok(false)`: another push reached the document first; reload and recompute.
pub async fn store(db: &Db, p: &Push<'_>) -> AppResult<bool> {
    let mut tx = db.pool.begin().await?;
    let peer = p.peer.unwrap_or("server");
    if !p.accepted.changes.is_empty() {
        let heads = p.accepted.doc.get_heads().iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        if documents::claim_version(&mut tx, p.key, p.version, &heads).await? == Claim::Conflict {
            return Ok(false);
        }
        for actor in &p.accepted.bind {
            if !bind_actor(&mut tx, &actor.to_hex_string(), p.account).await? {
                return Err(Refusal::ForeignActor { actor: actor.to_hex_string() }.into());
            }
        }
        documents::insert_changes(&mut tx, p.key, p.account, peer, &p.accepted.changes).await?;
        projections::rebuild(&mut tx, p.key, &p.accepted.records, p.catalog, now_ms()).await?;
        let pending = p.pending + p.accepted.changes.len() as i64;
        documents::maybe_compact(&mut tx, p.key, &p.accepted.doc, pending).await?;
    }
    if let (Some(s), Some(peer)) = (p.sync_state, p.peer) {
        documents::save_sync_state(&mut tx, p.key, peer, p.account, s).await?;
    }
    if let Some(peer) = p.peer {
        documents::touch_device(&mut tx, p.key, peer, p.account).await?;
    }
    tx.commit().await?;
    if !p.accepted.changes.is_empty() {
        tracing::info!(village = %p.key.village, year = %p.key.year, account = p.account, peer, changes = p.accepted.changes.len(), "push stored");
    }
    Ok(true)
}
