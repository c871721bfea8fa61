//! The records of a document as read, kept so that the app's screens do not read the whole
//! document again each time: in memory per heads, and on disk beside a fresh snapshot
//! (`VILLAGE.YEAR.records.json`), so that even the first screen after opening the phone reads
//! a small JSON file instead of the document.
//!
//! The file is a cache, never the truth: it is written after the snapshot it describes, names
//! the document heads it was read at and the version of the reader, and is used only when both
//! match; a file that is missing, torn or stale is ignored and the document is read instead.

use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use zhibu_schema::VillageYear;

use crate::DocKey;

/// Bumped whenever reading a document changes what it yields, which invalidates every file.
const READER: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Wire {
    reader: u32,
    heads: Vec<String>,
    records: VillageYear,
}

fn path_for(dir: &Path, key: &DocKey) -> PathBuf {
    dir.join(format!("{}.records.json", key.stem()))
}

/// The records cached on disk, if they were read at exactly `heads`.
pub(crate) fn load(dir: &Path, key: &DocKey, heads: &[ChangeHash]) -> Option<VillageYear> {
    let bytes = std::fs::read(path_for(dir, key)).ok()?;
    let wire: Wire = serde_json::from_slice(&bytes).ok()?;
    let same = wire.reader == READER
        && wire.heads.len() == heads.len()
        && wire.heads.iter().zip(heads).all(|(a, b)| *a == b.to_string());
    same.then_some(wire.records)
}

/// Caches the records read at `heads`. Best effort: a cache that cannot be written is only a
/// slower next read.
pub(crate) fn store(dir: &Path, key: &DocKey, heads: &[ChangeHash], records: &VillageYear) {
    let wire =
        Wire { reader: READER, heads: heads.iter().map(ToString::to_string).collect(), records: records.clone() };
    let path = path_for(dir, key);
    let tmp = path.with_extension("json.tmp");
    let written = serde_json::to_vec(&wire)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::info!(doc = %key, error = %e, "records not cached");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhibu_schema::{VillageId, Year};

    #[test]
    fn cached_records_are_used_only_at_the_heads_they_were_read_at() {
        let dir = tempfile::tempdir().expect("dir");
        let key = DocKey::new(VillageId::parse("v1").expect("id"), Year::new(2026).expect("year"));
        let records = VillageYear::new(key.village.clone(), key.year);
        let heads = vec![ChangeHash([7; 32])];
        assert_eq!(load(dir.path(), &key, &heads), None);
        store(dir.path(), &key, &heads, &records);
        assert_eq!(load(dir.path(), &key, &heads), Some(records));
        assert_eq!(load(dir.path(), &key, &[ChangeHash([8; 32])]), None);
        std::fs::write(path_for(dir.path(), &key), b"{\"reader\": 1, \"heads\"").expect("torn");
        assert_eq!(load(dir.path(), &key, &heads), None);
    }
}
