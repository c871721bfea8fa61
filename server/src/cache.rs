//! Recently used documents in memory, each with the stored version it is. A hit is only used
//! when the database still says that version (one cheap query), so several server instances
//! sharing a database stay correct: a cache can only save work, never serve stale data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use automerge::Automerge;
use zhibu_schema::{Catalog, VillageYear};

use crate::db::documents::DocKey;

/// A document as stored at `version`.
#[derive(Debug, Clone)]
pub struct Current {
    pub doc: Arc<Automerge>,
    /// 0 when the document was never stored.
    pub version: i64,
    /// Changes not yet folded into the snapshot.
    pub pending: i64,
    /// The records the projections were last made from, with the catalog used, when known.
    pub projected: Option<(Arc<VillageYear>, Arc<Catalog>)>,
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
        let mut guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let (slots, tick) = &mut *guard;
        *tick += 1;
        if slots.get(&key).is_some_and(|s| s.current.version > current.version) {
            return;
        }
        slots.insert(key, Slot { current, used: *tick });
        while slots.len() > self.capacity {
            let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.used).map(|(k, _)| k.clone()) else { break };
            slots.remove(&oldest);
        }
    }
}
