//! Storing an admitted push: the one path by which changes reach the database, whether a
//! phone sent them or the server made them (roster imports, the demo).
//!
//! In one transaction (on SQLite, one savepoint of a transaction the pushes waiting for the
//! writer share: [`crate::writer`]): claim the document's next version (or give up if another
//! push won), bind new actors to the account (refusing an actor another account holds), append
//! the changes, bring the projections up to date, compact when due, save the peer's sync state
//! and the device's last sync. The caller replies only after the commit, when this returns
//! `Ok(true)`.
//!
//! What takes computing (the projection rows, a new snapshot) is worked out before the
//! transaction, on a free core; the transaction only writes, so the database's writer is held
//! for the writes alone.

use std::sync::Arc;

use automerge::sync::State;
use automerge::{ActorId, Change};
use zhibu_schema::Catalog;
use zhibu_schema::sync::{Accepted, Refusal};

use crate::cache::Current;
use crate::db::accounts::bind_actor;
use crate::db::documents::{self, COMPACT_AFTER, Claim, DocKey};
use crate::db::projections::Plan;
use crate::db::sink::Sink;
use crate::db::{now_ms, projections};
use crate::error::AppResult;
use crate::state::AppState;

/// The sender the change log names for changes the server made itself.
const SERVER: &str = "server";

/// An admitted push (or several admitted together) and where it goes.
#[derive(Debug)]
pub struct Push<'a> {
    pub key: &'a DocKey,
    /// The document the push was computed against.
    pub base: &'a Current,
    pub accepted: Accepted,
    pub catalog: &'a Arc<Catalog>,
    /// Who sent `accepted.changes`, in their order: one sender, or the phones whose pushes
    /// were admitted together ([`crate::together`]).
    pub senders: Vec<Sender<'a>>,
}

/// Who sent some of a push's changes.
#[derive(Debug)]
pub struct Sender<'a> {
    pub account: &'a str,
    /// The device (X-Peer-Id), or None for changes the server made itself.
    pub peer: Option<&'a str>,
    /// The standard protocol's new state for this peer.
    pub sync_state: Option<&'a State>,
    /// How many of the accepted changes, after those of the senders before, are its own.
    pub changes: usize,
    /// Actors seen for the first time in them: bound to its account.
    pub bind: Vec<ActorId>,
}

impl<'a> Sender<'a> {
    /// The one sender of all of `accepted`.
    pub fn only(account: &'a str, peer: Option<&'a str>, sync_state: Option<&'a State>, accepted: &Accepted) -> Self {
        Sender { account, peer, sync_state, changes: accepted.changes.len(), bind: accepted.bind.clone() }
    }
}

/// Stores a push. `Ok(false)`: another push reached the document first; reload and recompute.
pub async fn store(state: &AppState, p: Push<'_>) -> AppResult<bool> {
    let Accepted { doc, changes, read, touched, problems, .. } = p.accepted;
    let all: Vec<Arc<Change>> = changes.into_iter().map(Arc::new).collect();
    let count = all.len();
    // Each sender's changes follow those of the senders before it.
    let mut rest = all.iter().cloned();
    let senders: Vec<Contributor> = p
        .senders
        .iter()
        .map(|s| Contributor {
            account: s.account.to_owned(),
            device: s.peer.map(str::to_owned),
            sync_state: s.sync_state.cloned(),
            changes: rest.by_ref().take(s.changes).collect(),
            bind: s.bind.clone(),
        })
        .collect();
    let write = |update| Write { key: p.key.clone(), senders, update };
    if count == 0 {
        // Only the devices' syncs to record: they wait for the writer like any push, and share
        // its transaction (a morning's worth of phones that only pull share their commits).
        if p.senders.iter().any(|s| s.peer.is_some()) {
            crate::writer::store(state, write(None)).await?;
        }
        // The base as read, for the next push that brings changes.
        state.docs.learn_read(p.key, p.base.version, read);
        return Ok(true);
    }

    let seen = match &p.base.seen {
        Some(s) => (**s).clone(),
        None => projections::load_seen(&state.db.pool, p.key).await?,
    };
    // The stored rows were made from the base's records only if we know them and they were
    // made with this very catalog.
    let digest = projections::rows_digest(p.catalog);
    let before = p.base.projected_with(&digest).map(|(read, rows)| (read.clone(), rows.cloned()));
    // The records as stored, whatever the rows were made with: what tells a meeting's date or
    // attendance changed after the server had it.
    let was = p.base.read.clone();
    let doc = Arc::new(doc);
    let pending = p.base.pending + count as i64;
    let compact = pending >= COMPACT_AFTER;
    let received_at = now_ms();
    // Changes the server made itself (a township's roster import) are not a village's after the
    // fact.
    let by_phones = p.senders.iter().any(|s| s.peer.is_some());
    // Short when only the rows that differ are made (the base's were stored with this catalog).
    let short = before.is_some();
    let (plan, shared_rows, seen, snapshot) = {
        let (doc, read, catalog) = (doc.clone(), read.clone(), p.catalog.clone());
        state
            .gates
            .cpu_if_short(short, move || {
                let mut seen = seen;
                let before = before.as_ref().map(|(h, rows)| projections::Before {
                    records: &h.doc,
                    touched: &touched,
                    shared: rows.as_deref(),
                });
                let was = was.as_ref().map(|w| &w.doc);
                let after = projections::After { records: &read.doc, problems: problems.as_deref() };
                let (plan, rows) = projections::plan(before, was, after, &catalog, &mut seen, received_at, by_phones);
                // Compressed: a busy year's snapshot is 18 KB instead of 120; every byte of it
                // goes through the WAL, the database file and the disk's sync (PERFORMANCE.md).
                (plan, Arc::new(rows), seen, compact.then(|| documents::pack_snapshot(&doc)))
            })
            .await
    };
    let heads = documents::heads_text(&doc);
    let received = p.base.received_with(&all);
    let update = Update { version: p.base.version, heads, digest: digest.clone(), plan, snapshot };
    if !crate::writer::store(state, write(Some(update))).await? {
        return Ok(false);
    }
    for s in &p.senders {
        let bound: Vec<String> = s.bind.iter().map(ActorId::to_hex_string).collect();
        state.db.learn_actors(s.account, &bound);
        let peer = s.peer.unwrap_or(SERVER);
        tracing::info!(village = %p.key.village, year = %p.key.year, account = s.account, peer, changes = s.changes, together = p.senders.len(), "push stored");
    }
    let next = Current {
        doc,
        version: p.base.version + 1,
        pending: if compact { 0 } else { pending },
        read: Some(read),
        projected: Some(digest),
        shared_rows: Some(shared_rows),
        seen: Some(Arc::new(seen)),
        received,
    };
    state.docs.put(p.key.clone(), next);
    Ok(true)
}

/// A push's writes, owned: what goes into the database in one transaction (or one savepoint of
/// a transaction several pushes share, see [`crate::writer`]).
#[derive(Debug)]
pub struct Write {
    pub key: DocKey,
    /// Who sent the push: one sender, or the phones whose pushes were admitted together.
    pub senders: Vec<Contributor>,
    /// The document's new version and what follows from its changes; None when the push
    /// brought no changes.
    pub update: Option<Update>,
}

/// One sender of a push, owned, with its changes.
#[derive(Debug)]
pub struct Contributor {
    pub account: String,
    /// The device (X-Peer-Id), or None for changes the server made itself.
    pub device: Option<String>,
    /// The standard protocol's new state for this device.
    pub sync_state: Option<State>,
    /// Its changes new to the document.
    pub changes: Vec<Arc<Change>>,
    /// Actors seen for the first time in them: bound to its account.
    pub bind: Vec<ActorId>,
}

/// The document's new version and what follows from a push's changes.
#[derive(Debug)]
pub struct Update {
    /// The version the push was computed against.
    pub version: i64,
    pub heads: String,
    /// The catalog the projection rows are made with.
    pub digest: String,
    pub plan: Plan,
    pub snapshot: Option<Vec<u8>>,
}

/// Writes a push inside `tx`: `Ok(false)` when another push moved the document on first (then
/// nothing of this one may be kept: the caller rolls back).
pub async fn write_one(tx: &mut impl Sink, w: &Write) -> AppResult<bool> {
    if let Some(u) = &w.update {
        if documents::claim_version(tx, &w.key, u.version, &u.heads, &u.digest).await? == Claim::Conflict {
            return Ok(false);
        }
        let stored = u.version + 1;
        for s in &w.senders {
            for actor in &s.bind {
                if !bind_actor(tx, &actor.to_hex_string(), &s.account).await? {
                    return Err(Refusal::ForeignActor { actor: actor.to_hex_string() }.into());
                }
            }
            // Who sent the changes: the device, or the server itself.
            let sender = s.device.as_deref().unwrap_or(SERVER);
            documents::insert_changes(tx, &w.key, stored, &s.account, sender, &s.changes).await?;
        }
        projections::apply(tx, &w.key, &u.plan).await?;
        if let Some(snapshot) = &u.snapshot {
            documents::compact(tx, &w.key, stored, snapshot).await?;
        }
    }
    for s in &w.senders {
        if let (Some(state), Some(device)) = (&s.sync_state, &s.device) {
            documents::save_sync_state(tx, &w.key, device, &s.account, state).await?;
        }
        if let Some(device) = &s.device {
            documents::touch_device(tx, &w.key, device, &s.account).await?;
        }
    }
    Ok(true)
}

/// What [`reproject_township`] did.
#[derive(Debug, Default)]
pub struct Reprojected {
    /// Documents whose rows were made again.
    pub documents: usize,
    /// Documents left as they were, each with why (one that cannot be read has no records to
    /// make rows from).
    pub skipped: Vec<(DocKey, String)>,
}

/// Makes every projection row of a township's documents again with the catalog now in force,
/// for every year: after a township's catalog changes, its report shows figures by the new
/// catalog at once, not only for the documents pushed to since (last year's are never pushed
/// to again).
pub async fn reproject_township(state: &AppState, township: &str) -> anyhow::Result<Reprojected> {
    reproject(state, township, false).await
}

/// Makes the rows again of every document whose rows were made with another catalog than its
/// township's now, or in an older format ([`projections::rows_digest`]): run in the background
/// when the server starts, so that a column a new version adds is filled for last year's
/// documents too, which no push will touch again. Pushes meanwhile are served as ever (a
/// document's next push makes its rows whole when they are not this format's).
pub async fn catch_up(state: &AppState) -> anyhow::Result<Reprojected> {
    let mut done = Reprojected::default();
    for (township, _) in state.db.townships().await? {
        // One township whose catalog no longer reads holds up no other.
        match reproject(state, &township, true).await {
            Ok(one) => {
                done.documents += one.documents;
                done.skipped.extend(one.skipped);
            }
            Err(e) => tracing::warn!(township, error = %e, "projection rows of a township not made again"),
        }
    }
    Ok(done)
}

/// Makes the rows of a township's documents again: all of them, or only those whose rows were
/// made otherwise (`stale`). Each document in a transaction of its own that moves its version
/// on (as a push does): a server holding the document in memory sees the new version and loads
/// it again, and a push computed against the old version recomputes.
async fn reproject(state: &AppState, township: &str, stale: bool) -> anyhow::Result<Reprojected> {
    let digest =
        projections::rows_digest(&*state.catalog_for(Some(township)).await.map_err(|e| anyhow::anyhow!("{e}"))?);
    let mut done = Reprojected::default();
    let keys = match stale {
        true => state.db.documents_projected_otherwise(township, &digest).await?,
        false => state.db.documents_of(township).await?,
    };
    for key in keys {
        // One document that cannot be read or stored holds up no other; a database out of
        // reach ends the whole run.
        match reproject_one(state, &key, stale).await {
            Ok(true) => done.documents += 1,
            Ok(false) => {}
            Err(e) if e.chain().filter_map(|c| c.downcast_ref::<sqlx::Error>()).any(crate::error::is_unavailable) => {
                return Err(e);
            }
            Err(e) => done.skipped.push((key, format!("{e:#}"))),
        }
    }
    Ok(done)
}

/// Makes one document's rows again with its township's catalog; `Ok(false)` when they were
/// made with it meanwhile (`stale`). The catalog is read after the document, at every attempt:
/// a `set-catalog` run meanwhile (another process) is then either seen, or it claims the
/// document after this and makes its rows again itself.
async fn reproject_one(state: &AppState, key: &DocKey, stale: bool) -> anyhow::Result<bool> {
    for _ in 0..8 {
        let loaded = state.db.load_doc(key).await?;
        let catalog = state.catalog_for(Some(&key.township)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let digest = projections::rows_digest(&catalog);
        if stale && loaded.projected.as_deref() == Some(digest.as_str()) {
            return Ok(false);
        }
        let records = zhibu_schema::mapping::read(&loaded.doc)?.doc;
        let heads = documents::heads_text(&loaded.doc);
        let _writer = state.gates.write().await;
        let mut tx = state.db.pool.begin().await?;
        if documents::claim_version(&mut tx, key, loaded.version, &heads, &digest).await? == Claim::Conflict {
            continue;
        }
        projections::update(&mut tx, key, None, &records, &catalog, now_ms()).await?;
        tx.commit().await?;
        return Ok(true);
    }
    anyhow::bail!("该文档正被频繁修改，请稍后重试")
}
