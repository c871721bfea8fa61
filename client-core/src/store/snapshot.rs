//! The snapshot file of a document: a header, then the caller's snapshot bytes as one record.
//!
//! Invariant: a snapshot file is only ever written whole by `write_atomic`, so it either decodes
//! completely (header and record check out, nothing after the record) or it is damaged; there is
//! no torn snapshot to tolerate, and a damaged one is reported, never skipped.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::StoreError;
use super::header::{self, FileKind, Generation, HEADER_LEN};
use super::record;

pub(crate) fn encode(generation: Generation, snapshot: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut out = header::encode(FileKind::Snapshot, generation).to_vec();
    out.extend_from_slice(&record::encode(snapshot)?);
    Ok(out)
}

pub(crate) fn decode<'a>(bytes: &'a [u8], path: &Path) -> Result<(Generation, &'a [u8]), StoreError> {
    let (generation, body) = header::decode(FileKind::Snapshot, bytes, path)?;
    match record::scan(body) {
        record::Scan { records, valid_len, skipped: 0 } if records.len() == 1 && valid_len == body.len() => {
            Ok((generation, records[0]))
        }
        _ => Err(StoreError::Corrupt { path: path.to_path_buf(), detail: "快照内容校验失败".to_owned() }),
    }
}

/// The generation of the snapshot at `path`, reading only its header; a missing snapshot is
/// [`Generation::BEFORE_FIRST_SNAPSHOT`].
pub(crate) fn read_generation(path: &Path) -> Result<Generation, StoreError> {
    let context = || format!("读取 {}", path.display());
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Generation::BEFORE_FIRST_SNAPSHOT);
        }
        Err(e) => return Err(StoreError::io(e, context())),
    };
    let mut head = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64).read_to_end(&mut head).map_err(|e| StoreError::io(e, context()))?;
    header::decode(FileKind::Snapshot, &head, path).map(|(generation, _)| generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trips() {
        let bytes = encode(Generation::BEFORE_FIRST_SNAPSHOT.next(), b"automerge doc").unwrap();

        let (generation, snapshot) = decode(&bytes, Path::new("d.snap")).unwrap();

        assert_eq!(generation, Generation::BEFORE_FIRST_SNAPSHOT.next());
        assert_eq!(snapshot, b"automerge doc");
    }

    #[test]
    fn a_damaged_or_extended_snapshot_is_reported() {
        let good = encode(Generation::BEFORE_FIRST_SNAPSHOT.next(), b"automerge doc").unwrap();
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut extended = good.clone();
        extended.push(0);
        let cut = &good[..good.len() - 1];

        for bad in [&flipped[..], &extended[..], cut] {
            let err = decode(bad, Path::new("d.snap")).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        }
    }
}
