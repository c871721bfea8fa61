//! One village-year document in memory, with what the phone knows of the server's copy. No IO:
//! the phone persists what these functions return.
//!
//! Invariant: the document always starts from the shared genesis change of its village and
//! year, so every replica of it (other phones, the server) has the same first change and the
//! same collection maps; this device's changes are made under its own actor.

pub(crate) mod json;
pub(crate) mod meta;
pub(crate) mod order;
pub(crate) mod records;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use automerge::{ActorId, Automerge, AutomergeError, Change, ChangeHash, ReadDoc};
use serde_bytes::ByteBuf;
use zhibu_schema::mapping::{self, ReadError};
use zhibu_schema::sync::{FastDoc, hashes_to_wire};
use zhibu_schema::{Catalog, VillageYear, Violation, check_document};

pub(crate) use meta::{RecordedRefusal, SyncMeta};

use crate::DocKey;

#[derive(Debug)]
pub(crate) struct Replica {
    pub key: DocKey,
    pub doc: Automerge,
    pub meta: SyncMeta,
    /// The rules the document breaks at the given heads (the catalog may have changed since
    /// they were broken); edits are refused only for rules they newly break.
    violations: Option<(Vec<ChangeHash>, BTreeSet<Violation>)>,
    /// The records as read at the given heads (see [`records`]).
    records: Option<(Vec<ChangeHash>, Arc<VillageYear>)>,
}

impl Replica {
    /// The document with only its genesis change.
    pub fn new(key: DocKey, actor: ActorId) -> Replica {
        let doc = mapping::genesis(&key.village, key.year).with_actor(actor);
        Replica { key, doc, meta: SyncMeta::default(), violations: None, records: None }
    }

    /// The document from its stored snapshot and chunks (whole documents or concatenated
    /// changes, as `load_incremental` takes them).
    pub fn load(
        key: DocKey,
        actor: ActorId,
        snapshot: Option<&[u8]>,
        chunks: &[Vec<u8>],
        meta: SyncMeta,
    ) -> Result<Replica, AutomergeError> {
        let mut replica = Replica::new(key, actor.clone());
        if let Some(snapshot) = snapshot {
            // Loading a snapshot whole is several times faster than merging it into the genesis
            // document; the genesis change is merged in afterwards (it is always there already
            // unless the snapshot came from elsewhere).
            let genesis = std::mem::replace(&mut replica.doc, Automerge::load(snapshot)?.with_actor(actor));
            replica.doc.apply_changes(genesis.get_changes(&[]))?;
        }
        for chunk in chunks {
            replica.doc.load_incremental(chunk)?;
        }
        replica.meta = meta;
        Ok(replica)
    }

    /// As much of the document as damaged files still give ([`crate::store::log::salvage`]):
    /// the genesis, the snapshot's changes if it loads, and every chunk that loads, each on its
    /// own, so one bad part does not cost the rest.
    pub fn salvage(key: &DocKey, actor: ActorId, loaded: &crate::store::Loaded) -> Automerge {
        let mut doc = Replica::new(key.clone(), actor).doc;
        if let Some(snapshot) = &loaded.snapshot
            && let Ok(whole) = zhibu_schema::guard::load_document(snapshot)
        {
            let mut merged = doc.fork();
            if let Ok(Ok(())) = zhibu_schema::guard::catch(|| merged.apply_changes(whole.get_changes(&[]))) {
                doc = merged;
            }
        }
        for chunk in &loaded.chunks {
            let mut merged = doc.fork();
            if let Ok(Ok(_)) = zhibu_schema::guard::catch(|| merged.load_incremental(chunk)) {
                doc = merged;
            }
        }
        doc
    }

    /// The server heads from the last sync that this document has (all of them, unless the
    /// metadata outlived a lost document write).
    pub fn known_server_heads(&self) -> Vec<ChangeHash> {
        present(&self.doc, &self.meta.server_heads)
    }

    /// Every change the server may lack: those that are not ancestors of its known heads.
    pub fn unsynced_changes(&self) -> Vec<Change> {
        self.doc.get_changes(&self.known_server_heads())
    }

    /// This device's edits that the server has not acknowledged (the outbox).
    pub fn pending(&self) -> usize {
        let actor = self.doc.get_actor();
        self.unsynced_changes().iter().filter(|c| c.actor_id() == actor).count()
    }

    /// The server refused this document as it is now: sending it again would be refused again.
    pub fn is_stuck(&self) -> bool {
        self.meta.refusal.as_ref().is_some_and(|r| r.heads == self.doc.get_heads())
    }

    /// This document's part of a fast sync request.
    pub fn fast_doc(&self) -> FastDoc {
        let known = self.known_server_heads();
        FastDoc {
            village: self.key.village.clone(),
            year: self.key.year,
            known: hashes_to_wire(&known),
            heads: hashes_to_wire(&self.doc.get_heads()),
            changes: self.doc.get_changes(&known).iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        }
    }

    /// Applies changes from the server; returns the bytes of those that were new, for the
    /// caller to persist (None when nothing was new).
    pub fn apply(&mut self, changes: Vec<Change>) -> Result<Option<Vec<u8>>, String> {
        let before = self.doc.get_heads();
        self.guarded(|doc| doc.apply_changes(changes).map_err(|e| e.to_string()))?;
        Ok(self.new_since(&before))
    }

    /// Runs `f` on a copy of the document and keeps the copy only when `f` succeeds. What a
    /// server sends is outside input: Automerge panics on some malformed changes and messages
    /// (see `zhibu_schema::guard`), and a broken or hostile reply must neither crash the phone
    /// nor leave its document half changed.
    pub fn guarded<T>(&mut self, f: impl FnOnce(&mut Automerge) -> Result<T, String>) -> Result<T, String> {
        let mut next = self.doc.clone();
        let result = zhibu_schema::guard::catch(|| f(&mut next))??;
        self.doc = next;
        Ok(result)
    }

    /// The bytes of the changes not ancestors of `before`, None when there are none.
    pub fn new_since(&self, before: &[ChangeHash]) -> Option<Vec<u8>> {
        if self.doc.get_heads() == before {
            return None;
        }
        Some(self.doc.save_after(before)).filter(|b| !b.is_empty())
    }

    /// The rules the document breaks now, under `catalog`.
    pub fn violations(&mut self, catalog: &Catalog) -> BTreeSet<Violation> {
        let heads = self.doc.get_heads();
        match &self.violations {
            Some((at, v)) if *at == heads => v.clone(),
            _ => {
                let v = violations_of(&self.doc, &self.key, catalog);
                self.violations = Some((heads, v.clone()));
                v
            }
        }
    }

    /// The records as they stand: from memory when read at the current heads, else from the
    /// cache file in `dir` when it was written at them, else read from the document.
    pub fn records(&mut self, dir: &Path) -> Result<Arc<VillageYear>, ReadError> {
        let heads = self.doc.get_heads();
        if let Some((at, r)) = &self.records
            && *at == heads
        {
            return Ok(r.clone());
        }
        let r = match records::load(dir, &self.key, &heads) {
            Some(r) => r,
            None => mapping::read(&self.doc)?.doc,
        };
        let r = Arc::new(r);
        self.records = Some((heads, r.clone()));
        Ok(r)
    }

    /// Caches the records on disk in `dir`, beside a snapshot just written.
    pub fn cache_records(&mut self, dir: &Path) {
        match self.records(dir) {
            Ok(r) => records::store(dir, &self.key, &self.doc.get_heads(), &r),
            Err(e) => tracing::info!(doc = %self.key, error = %e, "records not cached"),
        }
    }

    /// Forgets the cached violations (the catalog changed).
    pub fn forget_violations(&mut self) {
        self.violations = None;
    }
}

/// Those of `heads` that `doc` has.
pub(crate) fn present(doc: &Automerge, heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let missing = doc.get_missing_deps(heads);
    heads.iter().filter(|h| !missing.contains(h)).copied().collect()
}

/// Every rule a document (or a transaction on it) breaks.
pub(crate) fn violations_of(doc: &impl ReadDoc, key: &DocKey, catalog: &Catalog) -> BTreeSet<Violation> {
    match check_document(doc, &key.village, key.year, catalog) {
        Ok(_) => BTreeSet::new(),
        Err(v) => v.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::CommitOptions;
    use zhibu_schema::{Collection, Member, MemberStatus, Name, VillageId, Year};

    fn key() -> DocKey {
        DocKey::new(VillageId::parse("v1").unwrap(), Year::new(2026).unwrap())
    }

    fn add_member(r: &mut Replica, id: &str) {
        let m = Member::new(Name::parse("王芳").unwrap(), MemberStatus::Full);
        r.doc
            .transact_with::<_, _, mapping::WriteError, _>(
                |_| CommitOptions::default().with_message("添加党员"),
                |tx| mapping::put_record(tx, Collection::Members, id, &m),
            )
            .unwrap();
    }

    #[test]
    fn pending_counts_own_edits_the_server_has_not_acknowledged() {
        let mut phone = Replica::new(key(), ActorId::from(b"phone".as_slice()));
        assert_eq!(phone.pending(), 0, "the genesis change is everyone's, not an edit");
        add_member(&mut phone, "v1-m01");
        add_member(&mut phone, "v1-m02");
        assert_eq!(phone.pending(), 2);
        phone.meta.server_heads = phone.doc.get_heads();
        assert_eq!(phone.pending(), 0);
        add_member(&mut phone, "v1-m03");
        assert_eq!(phone.pending(), 1);
        assert_eq!(phone.fast_doc().changes.len(), 1, "only what the server lacks is sent");
    }

    #[test]
    fn server_heads_the_document_lacks_are_ignored() {
        let mut phone = Replica::new(key(), ActorId::from(b"phone".as_slice()));
        add_member(&mut phone, "v1-m01");
        phone.meta.server_heads = vec![ChangeHash([9; 32])];
        assert_eq!(phone.known_server_heads(), vec![]);
        assert_eq!(phone.pending(), 1);
    }

    #[test]
    fn stored_chunks_load_back_to_the_same_document() {
        let mut phone = Replica::new(key(), ActorId::from(b"phone".as_slice()));
        add_member(&mut phone, "v1-m01");
        let snapshot = phone.doc.save();
        let before = phone.doc.get_heads();
        add_member(&mut phone, "v1-m02");
        let chunk = phone.new_since(&before).unwrap();
        let back =
            Replica::load(key(), ActorId::from(b"phone".as_slice()), Some(&snapshot), &[chunk], SyncMeta::default())
                .unwrap();
        assert_eq!(back.doc.get_heads(), phone.doc.get_heads());
    }

    /// The changes of the fast requests that once made the server's Automerge panic (kept by
    /// the fuzzing in `tests/fixtures/fuzz/`), as if a broken server sent them to the phone:
    /// the phone refuses them, never panics, and keeps its document as it was.
    #[test]
    fn malformed_changes_from_a_server_are_refused_and_change_nothing() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/fuzz/fast_request");
        let mut refused = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let Ok(request) = zhibu_schema::sync::FastRequest::decode(&bytes) else { continue };
            for fast in request.docs {
                let Ok(changes) =
                    fast.changes.iter().map(|c| Change::from_bytes(c.to_vec())).collect::<Result<Vec<_>, _>>()
                else {
                    continue;
                };
                let mut phone = Replica::new(key(), ActorId::from(b"phone".as_slice()));
                add_member(&mut phone, "v1-m01");
                let before = phone.doc.get_heads();
                if phone.apply(changes).is_err() {
                    refused += 1;
                    assert_eq!(phone.doc.get_heads(), before, "a refused reply changes nothing");
                    assert!(mapping::read(&phone.doc).is_ok(), "the document still reads");
                }
            }
        }
        assert!(refused > 0, "some fixture is refused");
    }

    /// A panic inside Automerge while applying what a server sent is an error, and the change
    /// it was making is dropped with the copy it worked on.
    #[test]
    fn a_panic_while_applying_leaves_the_document_as_it_was() {
        let mut phone = Replica::new(key(), ActorId::from(b"phone".as_slice()));
        add_member(&mut phone, "v1-m01");
        let before = phone.doc.get_heads();
        let result: Result<(), String> = phone.guarded(|doc| {
            let mut scratch = Replica { doc: std::mem::take(doc), ..Replica::new(key(), ActorId::random()) };
            add_member(&mut scratch, "v1-m02");
            *doc = scratch.doc;
            panic!("malformed input");
        });
        assert!(result.unwrap_err().contains("malformed input"));
        assert_eq!(phone.doc.get_heads(), before);
        add_member(&mut phone, "v1-m03");
        assert_eq!(phone.pending(), 2, "the phone goes on as before");
    }
}
