//! Recently used documents in memory, each with the stored version it is. A hit is only used
//! when the database still says that version (one cheap query), so several server instances
//! sharing a database stay correct: a cache can only save work, never serve stale data.
//!
//! With a document the cache keeps what the next push would otherwise work out again from the
//! whole document: its records as read (so admission reads only the records new changes
//! touch), the catalog the projection rows stored for this version were made with (so only the
//! rows that differ are rewritten), and when the server first saw each meeting and case step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::{Automerge, Change};
use zhibu_schema::mapping::Hydrated;

use crate::db::documents::{DocKey, Loaded};
use crate::db::projections::SharedRows;

/// A document as stored at `version`.
#[derive(Debug, Clone)]
pub struct Current {
    pub doc: Arc<Automerge>,
    /// 0 when the document was never stored.
    pub version: i64,
    /// Changes not yet folded into the snapshot.
    pub pending: i64,
    /// The document as read (records, and the problems of those that could not be read).
    pub read: Option<Arc<Hydrated>>,
    /// The catalog (its digest) the stored projection rows were made with, from this version's
    /// records; None when that is not known (the rows are then rebuilt whole at the next push).
    pub projected: Option<String>,
    /// The stored members' and compliance rows, when they were made from `read` with the
    /// catalog `projected` (the push that stored this version made them).
    pub shared_rows: Option<Arc<SharedRows>>,
    /// When the server first saw each meeting (`meeting:ID`) and case step (`step:CASE:STEP`),
    /// as stored at this version.
    pub seen: Option<Arc<HashMap<String, i64>>>,
    /// The document's latest changes as received, newest last (at most [`RECEIVED_KEPT`]): a
    /// phone's reply takes the bytes of those it lacks from here instead of Automerge
    /// rebuilding them ([`zhibu_schema::sync::lacking_changes`]).
    pub received: Arc<Vec<Arc<Change>>>,
}

/// The most changes kept as received with a cached document: a few months of a village's
/// phones, for a phone that syncs every day or week.
pub const RECEIVED_KEPT: usize = 128;

impl Current {
    /// A document just loaded from the database.
    pub fn loaded(loaded: Loaded) -> Current {
        let mut received = loaded.pending_changes;
        received.drain(..received.len().saturating_sub(RECEIVED_KEPT));
        Current {
            doc: Arc::new(loaded.doc),
            version: loaded.version,
            pending: loaded.pending,
            read: None,
            projected: loaded.projected,
            shared_rows: None,
            seen: None,
            received: Arc::new(received),
        }
    }

    /// The changes kept as received after `new` ones were stored on top of this version.
    pub fn received_with(&self, new: &[Arc<Change>]) -> Arc<Vec<Arc<Change>>> {
        let kept = &self.received[self.received.len().saturating_sub(RECEIVED_KEPT.saturating_sub(new.len()))..];
        let new = &new[new.len().saturating_sub(RECEIVED_KEPT)..];
        Arc::new(kept.iter().chain(new).cloned().collect())
    }

    /// The records as read, if the stored projection rows were made from them with the catalog
    /// of this digest, with the members' and compliance rows when they are kept.
    pub fn projected_with(&self, catalog: &str) -> Option<(&Arc<Hydrated>, Option<&Arc<SharedRows>>)> {
        match (&self.read, &self.projected) {
            (Some(read), Some(c)) if c == catalog => Some((read, self.shared_rows.as_ref())),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Slot {
    current: Current,
    used: u64,
}

#[derive(Debug)]
pub struct DocCache {
    slots: Mutex<(HashMap<DocKey, Slot>, u64)>,
    capacity: usize,
}

impl DocCache {
    pub fn new(capacity: usize) -> Self {
        DocCache { slots: Mutex::new((HashMap::new(), 0)), capacity }
    }

    /// The cached document if it is at `version`.
    pub fn get(&self, key: &DocKey, version: i64) -> Option<Current> {
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let (slots, tick) = &mut *guard;
        *tick += 1;
        let slot = slots.get_mut(key)?;
        if slot.current.version != version {
            return None;
        }
        slot.used = *tick;
        Some(slot.current.clone())
    }

    /// Remembers a document, evicting the least recently used beyond capacity.
    pub fn put(&self, key: DocKey, current: Current) {
        if self.capacity == 0 {
            return;
        }
        // The documents this replaces or evicts (or `current` itself, when older) are freed
        // after the lock is let go, the guard being the last local made and so the first
        // dropped: freeing a busy year's document and records takes a fraction of a
        // millisecond, and every request takes this lock.
        let mut gone = Vec::new();
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let (slots, tick) = &mut *guard;
        *tick += 1;
        if slots.get(&key).is_some_and(|s| s.current.version > current.version) {
            return;
        }
        gone.extend(slots.insert(key, Slot { current, used: *tick }));
        while slots.len() > self.capacity {
            let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| k.clone()) else { break };
            gone.extend(slots.remove(&oldest));
        }
    }

    /// Adds what a request learned of a cached document (its records as read) when it is
    /// still at `version`.
    pub fn learn_read(&self, key: &DocKey, version: i64, read: Arc<Hydrated>) {
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = guard.0.get_mut(key)
            && slot.current.version == version
            && slot.current.read.is_none()
        {
            slot.current.read = Some(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{VillageId, Year};

    use super::*;

    fn key(village: &str) -> DocKey {
        DocKey { township: "t".to_owned(), village: VillageId::parse(village).unwrap(), year: Year::new(2026).unwrap() }
    }

    fn at(version: i64) -> Current {
        Current {
            doc: Arc::new(Automerge::new()),
            version,
            pending: 0,
            read: None,
            projected: None,
            shared_rows: None,
            seen: None,
            received: Arc::default(),
        }
    }

    #[test]
    fn a_document_is_served_only_at_its_version() {
        let cache = DocCache::new(4);
        cache.put(key("v1"), at(3));
        assert!(cache.get(&key("v1"), 3).is_some());
        assert!(cache.get(&key("v1"), 4).is_none(), "another version is loaded from the database");
        cache.put(key("v1"), at(2));
        assert!(cache.get(&key("v1"), 3).is_some(), "an older version never replaces a newer one");
        cache.put(key("v1"), at(4));
        assert!(cache.get(&key("v1"), 4).is_some());
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let cache = DocCache::new(2);
        cache.put(key("v1"), at(1));
        cache.put(key("v2"), at(1));
        assert!(cache.get(&key("v1"), 1).is_some());
        cache.put(key("v3"), at(1));
        assert!(cache.get(&key("v2"), 1).is_none(), "v2 was used least recently");
        assert!(cache.get(&key("v1"), 1).is_some() && cache.get(&key("v3"), 1).is_some());
        let evicted = at(1);
        let doc = evicted.doc.clone();
        cache.put(key("v4"), evicted);
        cache.put(key("v1"), at(2));
        cache.put(key("v3"), at(2));
        assert_eq!(Arc::strong_count(&doc), 1, "an evicted document is freed");
    }

    #[test]
    fn the_latest_changes_are_kept_as_received() {
        let changes: Vec<Arc<Change>> = (0..RECEIVED_KEPT + 10)
            .map(|n| {
                let mut doc = Automerge::new();
                let mut tx = doc.transaction();
                automerge::transaction::Transactable::put(&mut tx, automerge::ROOT, "n", n as i64).expect("put");
                tx.commit();
                Arc::new(doc.get_last_local_change().expect("a change"))
            })
            .collect();
        let mut current = at(1);
        current.received = current.received_with(&changes[..5]);
        assert_eq!(*current.received, changes[..5]);
        current.received = current.received_with(&changes[5..RECEIVED_KEPT + 3]);
        assert_eq!(*current.received, changes[3..RECEIVED_KEPT + 3], "the oldest go first");
        current.received = current.received_with(&changes[RECEIVED_KEPT + 3..]);
        assert_eq!(*current.received, changes[10..]);
        assert_eq!(*current.received_with(&changes), changes[10..], "a push of more than are kept: its latest");
    }
}
