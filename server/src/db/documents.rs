//! Village-year documents: the append-only change log, the compacted snapshot, per-peer sync
//! states and the devices' last sync.
//!
//! Invariants: a change is stored once per document, keyed by its hash, with the actor, the
//! account and device that pushed it, when the server first received it and the document
//! version that stored it; it is never updated. A push is stored in one transaction that also
//! moves the document's `version` on by one, and only if the version is still the one the push
//! was computed against (optimistic concurrency: several server processes may push to one
//! document; the loser recomputes). The snapshot (made at the document's `snapshot_version`)
//! plus the changes of later versions is always the whole document.

use std::io::{Read, Write};
use std::sync::Arc;

use anyhow::Context;
use automerge::sync::State;
use automerge::{Automerge, Change};
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use sqlx::Row;
use zhibu_schema::mapping;
use zhibu_schema::{VillageId, Year};

use super::sink::Arg::{Blob, Int, OptText, Text};
use super::sink::{Arg, Sink};
use super::{Backend, Db, now_ms};

/// Fold the change log into a new snapshot once this many changes are pending: about two months
/// of a busy village's edits. A stored document loads as its snapshot with at most this many
/// changes applied on top. At 64, a busy village's two phones pushing their months made a
/// snapshot (Automerge's save, its deflating, the document's row and the changes' rows
/// rewritten) at every other push; at 128 the server does a tenth more pushes a second, and
/// loading a document is no slower (docs/PERFORMANCE.md).
pub const COMPACT_AFTER: i64 = 128;

/// A document that other writers kept changing while it was read or stored, at every attempt:
/// busy, for the client to try again (409 `busy`), not a fault of the server.
#[derive(Debug, thiserror::Error)]
#[error("the document {0} kept changing")]
pub struct KeptChanging(pub String);

/// The address of a document, with its township (every key starts with it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocKey {
    pub township: String,
    pub village: VillageId,
    pub year: Year,
}

impl DocKey {
    /// The key as bound values: `township_id`, `village_id`, `year`.
    pub fn args(&self) -> [Arg<'_>; 3] {
        [Text(&self.township), Text(self.village.as_str()), Int(self.year.into())]
    }
}

/// A document as loaded, with the version it was loaded at.
#[derive(Debug)]
pub struct Loaded {
    pub doc: Automerge,
    /// 0 when the document has never been stored.
    pub version: i64,
    pub pending: i64,
    /// The catalog (digest) the projection rows were made with from this version.
    pub projected: Option<String>,
    /// The changes stored since the snapshot, as they were received, oldest push first (the
    /// cache keeps the newest of them).
    pub pending_changes: Vec<Arc<Change>>,
}

/// A document's stored parts, not yet put together: its snapshot and the changes since.
#[derive(Debug)]
pub struct Parts {
    /// The village and year: a document with no snapshot starts from their genesis change.
    origin: (VillageId, Year),
    snapshot: Option<Vec<u8>>,
    changes: Vec<Vec<u8>>,
    version: i64,
    projected: Option<String>,
}

/// The first bytes of every document Automerge saves.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// A snapshot as stored: the document saved without Automerge's own compression, then deflated
/// whole at zlib's fastest level (RFC 1950).
///
/// Automerge's `save` deflates each column on its own at the default level, with a compressor
/// set up for each: 0.56 ms for a busy year's 13 KB on the benchmark's machine, against 0.19 ms
/// for 18 KB this way, and a snapshot is saved every few pushes (docs/PERFORMANCE.md).
pub fn pack_snapshot(doc: &Automerge) -> Vec<u8> {
    let plain = doc.save_nocompress();
    let mut e = ZlibEncoder::new(Vec::with_capacity(plain.len() / 4), Compression::fast());
    e.write_all(&plain).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// The document a stored snapshot holds: packed by [`pack_snapshot`], or saved by Automerge
/// itself (as snapshots were stored before). The two cannot be mistaken for each other: a zlib
/// stream's first byte names its method (8, DEFLATE) in its low four bits, Automerge's is 0x85.
fn unpack_snapshot(bytes: &[u8]) -> anyhow::Result<Automerge> {
    if bytes.starts_with(&AUTOMERGE_MAGIC) {
        return Ok(Automerge::load(bytes)?);
    }
    let mut plain = Vec::with_capacity(bytes.len() * 8);
    ZlibDecoder::new(bytes).read_to_end(&mut plain).context("while inflating")?;
    Ok(Automerge::load(&plain)?)
}

impl Parts {
    /// The document the parts make: computing, no IO.
    pub fn build(self) -> anyhow::Result<Loaded> {
        // A year never stored is its genesis, as every phone starts it: a peer that starts
        // from nothing (the standard protocol's first message carries no changes) is then
        // answered with the genesis, not with a document that has no records to read. The
        // stored changes hold the genesis too when a phone pushed it before the server had it.
        let mut doc = match self.snapshot {
            Some(bytes) => unpack_snapshot(&bytes).context("while loading a stored snapshot")?,
            None => mapping::genesis(&self.origin.0, self.origin.1),
        };
        let changes = self
            .changes
            .into_iter()
            .map(|c| Change::from_bytes(c).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .context("while decoding stored changes")?;
        let pending = changes.len() as i64;
        doc.apply_changes(changes.iter().map(|c| (**c).clone())).context("while applying stored changes")?;
        Ok(Loaded { doc, version: self.version, pending, projected: self.projected, pending_changes: changes })
    }
}

impl Db {
    /// The document as it stands (its genesis, version 0, when it was never stored).
    pub async fn load_doc(&self, key: &DocKey) -> anyhow::Result<Loaded> {
        self.load_parts(key).await?.build()
    }

    /// The stored parts of a document as it stands.
    pub async fn load_parts(&self, key: &DocKey) -> anyhow::Result<Parts> {
        for _ in 0..8 {
            let head = sqlx::query(
                "SELECT snapshot, version, snapshot_version, projected_catalog FROM documents \
                 WHERE township_id = $1 AND village_id = $2 AND year = $3",
            )
            .bind(&key.township)
            .bind(key.village.as_str())
            .bind(i64::from(key.year))
            .fetch_optional(&self.pool)
            .await?;
            let (snapshot, version, folded, projected) = match &head {
                Some(r) => (
                    r.try_get::<Option<Vec<u8>>, _>("snapshot")?,
                    r.try_get::<i64, _>("version")?,
                    r.try_get::<i64, _>("snapshot_version")?,
                    r.try_get::<Option<String>, _>("projected_catalog")?,
                ),
                None => (None, 0, 0, None),
            };
            // The changes stored after the snapshot was made.
            let rows = sqlx::query(
                "SELECT data FROM changes WHERE township_id = $1 AND village_id = $2 AND year = $3 AND version > $4 \
                 ORDER BY version, received_at",
            )
            .bind(&key.township)
            .bind(key.village.as_str())
            .bind(i64::from(key.year))
            .bind(folded)
            .fetch_all(&self.pool)
            .await?;
            // A compaction between the two reads would hide changes: it moves the version on.
            let again =
                sqlx::query("SELECT version FROM documents WHERE township_id = $1 AND village_id = $2 AND year = $3")
                    .bind(&key.township)
                    .bind(key.village.as_str())
                    .bind(i64::from(key.year))
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| r.try_get::<i64, _>("version"))
                    .transpose()?
                    .unwrap_or(0);
            if again != version {
                continue;
            }
            let changes = rows.iter().map(|r| r.try_get::<Vec<u8>, _>("data")).collect::<Result<Vec<_>, _>>()?;
            let origin = (key.village.clone(), key.year);
            return Ok(Parts { origin, snapshot, changes, version, projected });
        }
        Err(KeptChanging(format!("{key:?}")).into())
    }

    /// Every stored document of a township.
    pub async fn documents_of(&self, township: &str) -> anyhow::Result<Vec<DocKey>> {
        let rows =
            sqlx::query("SELECT village_id, year FROM documents WHERE township_id = $1 ORDER BY village_id, year")
                .bind(township)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| doc_key_of(township, r)).collect()
    }

    /// A township's documents whose projection rows were made with other than `digest` (another
    /// catalog, an older format of the rows, or not known).
    pub async fn documents_projected_otherwise(&self, township: &str, digest: &str) -> anyhow::Result<Vec<DocKey>> {
        let rows = sqlx::query(
            "SELECT village_id, year FROM documents WHERE township_id = $1 \
             AND (projected_catalog IS NULL OR projected_catalog <> $2) ORDER BY village_id, year",
        )
        .bind(township)
        .bind(digest)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| doc_key_of(township, r)).collect()
    }

    /// What the server last knew of the peer `peer` of `account` for a document: a state saved
    /// under the same peer id by another account (two phones that chose one id) is not theirs,
    /// and the sync starts afresh.
    pub async fn load_sync_state(&self, key: &DocKey, peer: &str, account: &str) -> anyhow::Result<State> {
        let row = sqlx::query(
            "SELECT state FROM sync_states WHERE township_id = $1 AND village_id = $2 AND year = $3 AND peer_id = $4 \
             AND account_id = $5",
        )
        .bind(&key.township)
        .bind(key.village.as_str())
        .bind(i64::from(key.year))
        .bind(peer)
        .bind(account)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            // A state that no longer decodes only costs a longer sync: start afresh.
            Some(r) => State::decode(&r.try_get::<Vec<u8>, _>("state")?).unwrap_or_default(),
            None => State::new(),
        })
    }

    /// Every stored change of a document with its metadata, oldest first by arrival.
    pub async fn change_log(&self, key: &DocKey) -> anyhow::Result<Vec<ChangeRow>> {
        let rows = sqlx::query(
            "SELECT hash, actor, account_id, peer_id, device_time, received_at, message FROM changes \
             WHERE township_id = $1 AND village_id = $2 AND year = $3 ORDER BY received_at, hash",
        )
        .bind(&key.township)
        .bind(key.village.as_str())
        .bind(i64::from(key.year))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRow {
                    hash: r.try_get("hash")?,
                    actor: r.try_get("actor")?,
                    account_id: r.try_get("account_id")?,
                    peer_id: r.try_get("peer_id")?,
                    device_time: r.try_get("device_time")?,
                    received_at: r.try_get("received_at")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }
}

/// A stored change's metadata.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeRow {
    pub hash: String,
    pub actor: String,
    pub account_id: String,
    pub peer_id: String,
    pub device_time: i64,
    pub received_at: i64,
    pub message: Option<String>,
}

/// A document's heads as the `documents` table keeps them: hex hashes joined by commas.
pub fn heads_text(doc: &Automerge) -> String {
    doc.get_heads().iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

/// Outcome of claiming a document version inside a transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// Someone stored a push since the document was loaded: reload and recompute.
    Conflict,
}

/// Moves the document from `loaded.version` to the next version, holding its row until commit.
/// `projected` is the digest of the catalog the push's projection rows are made with.
pub async fn claim_version(
    tx: &mut impl Sink,
    key: &DocKey,
    version: i64,
    heads: &str,
    projected: &str,
) -> anyhow::Result<Claim> {
    let now = now_ms();
    let affected = if version == 0 {
        tx.exec(
            "INSERT INTO documents (township_id, village_id, year, version, heads, updated_at, projected_catalog) \
             VALUES ($1, $2, $3, 1, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                Text(&key.township),
                Text(key.village.as_str()),
                Int(key.year.into()),
                Text(heads),
                Int(now),
                Text(projected),
            ],
        )
        .await?
    } else {
        tx.exec(
            "UPDATE documents SET version = version + 1, heads = $1, updated_at = $2, projected_catalog = $7 \
             WHERE township_id = $3 AND village_id = $4 AND year = $5 AND version = $6",
            &[
                Text(heads),
                Int(now),
                Text(&key.township),
                Text(key.village.as_str()),
                Int(key.year.into()),
                Int(version),
                Text(projected),
            ],
        )
        .await?
    };
    Ok(if affected == 1 { Claim::Claimed } else { Claim::Conflict })
}

/// Appends new changes to the log, in multi-row statements, as stored by the document's version
/// `version`.
pub async fn insert_changes(
    tx: &mut impl Sink,
    key: &DocKey,
    version: i64,
    account: &str,
    peer: &str,
    changes: &[Arc<Change>],
) -> anyhow::Result<()> {
    const COLUMNS: usize = 13;
    let backend = tx.backend();
    let now = now_ms();
    for chunk in changes.chunks(200) {
        let mut sql = String::from(
            "INSERT INTO changes (township_id, village_id, year, hash, actor, seq, account_id, peer_id, device_time, \
             received_at, message, data, version) VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            let params: Vec<String> = (1..=COLUMNS)
                .map(|j| match backend {
                    // SQLite looks numbered parameters up by name, in time proportional to their number.
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${}", i * COLUMNS + j),
                })
                .collect();
            sql.push_str(&params.join(", "));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT DO NOTHING");
        let named: Vec<(String, String)> =
            chunk.iter().map(|c| (c.hash().to_string(), c.actor_id().to_hex_string())).collect();
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
        for (c, (hash, actor)) in chunk.iter().zip(&named) {
            args.extend([
                Text(&key.township),
                Text(key.village.as_str()),
                Int(key.year.into()),
                Text(hash),
                Text(actor),
                Int(c.seq() as i64),
                Text(account),
                Text(peer),
                Int(c.timestamp()),
                Int(now),
                OptText(c.message()),
                Blob(c.raw_bytes()),
                Int(version),
            ]);
        }
        tx.exec(&sql, &args).await?;
    }
    Ok(())
}

/// Folds the pending changes into a new snapshot (due once `COMPACT_AFTER` have gathered):
/// `snapshot` is the document saved whole at `version`, which holds every change stored up to
/// it. Runs inside the push's transaction, after `claim_version`, so no other push can
/// interleave. The changes' rows are left as they are: those of later versions are the pending
/// ones.
pub async fn compact(tx: &mut impl Sink, key: &DocKey, version: i64, snapshot: &[u8]) -> anyhow::Result<()> {
    let doc = key.args();
    tx.exec(
        "UPDATE documents SET snapshot = $4, snapshot_version = $5 WHERE township_id = $1 AND village_id = $2 AND year = $3",
        &[doc[0], doc[1], doc[2], Blob(snapshot), Int(version)],
    )
    .await?;
    Ok(())
}

pub async fn save_sync_state(
    tx: &mut impl Sink,
    key: &DocKey,
    peer: &str,
    account: &str,
    state: &State,
) -> anyhow::Result<()> {
    tx.exec(
        "INSERT INTO sync_states (township_id, village_id, year, peer_id, account_id, state, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (township_id, village_id, year, peer_id) \
         DO UPDATE SET state = excluded.state, account_id = excluded.account_id, updated_at = excluded.updated_at",
        &[
            Text(&key.township),
            Text(key.village.as_str()),
            Int(key.year.into()),
            Text(peer),
            Text(account),
            Blob(&state.encode()),
            Int(now_ms()),
        ],
    )
    .await?;
    Ok(())
}

/// Records that a device synced a document now.
pub async fn touch_device(tx: &mut impl Sink, key: &DocKey, peer: &str, account: &str) -> anyhow::Result<()> {
    tx.exec(
        "INSERT INTO devices (township_id, village_id, year, peer_id, account_id, last_sync_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (township_id, village_id, year, peer_id) \
         DO UPDATE SET account_id = excluded.account_id, last_sync_at = excluded.last_sync_at",
        &[
            Text(&key.township),
            Text(key.village.as_str()),
            Int(key.year.into()),
            Text(peer),
            Text(account),
            Int(now_ms()),
        ],
    )
    .await?;
    Ok(())
}

/// The key of a township's document from a row's `village_id` and `year`.
fn doc_key_of(township: &str, r: &sqlx::any::AnyRow) -> anyhow::Result<DocKey> {
    let village = VillageId::parse(&r.try_get::<String, _>("village_id")?)?;
    let year = Year::new(r.try_get::<i64, _>("year")?)?;
    Ok(DocKey { township: township.to_owned(), village, year })
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};

    use super::*;

    fn doc() -> Automerge {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        for i in 0..200 {
            tx.put(ROOT, format!("key{i}"), format!("会议记录 {i}")).expect("put");
        }
        tx.commit();
        doc
    }

    fn parts(snapshot: Vec<u8>) -> Parts {
        let origin = (VillageId::parse("v1").expect("id"), Year::new(2026).expect("year"));
        Parts { origin, snapshot: Some(snapshot), changes: Vec::new(), version: 1, projected: None }
    }

    #[test]
    fn a_packed_snapshot_is_smaller_than_the_plain_save_and_loads_the_same_document() {
        let doc = doc();
        let packed = pack_snapshot(&doc);
        assert!(packed.len() < doc.save_nocompress().len() / 2, "{} bytes", packed.len());
        let loaded = parts(packed).build().expect("loads");
        assert_eq!(loaded.doc.get_heads(), doc.get_heads());
        assert_eq!(
            loaded.doc.get(ROOT, "key7").expect("reads").map(|(v, _)| v.to_string()),
            Some("\"会议记录 7\"".into())
        );
    }

    #[test]
    fn a_snapshot_automerge_saved_itself_still_loads() {
        let doc = doc();
        for stored in [doc.save(), doc.save_nocompress()] {
            assert!(stored.starts_with(&AUTOMERGE_MAGIC));
            assert_eq!(parts(stored).build().expect("loads").doc.get_heads(), doc.get_heads());
        }
    }

    #[test]
    fn a_broken_snapshot_is_an_error_not_a_panic() {
        for stored in [vec![0x78, 0x01, 0xff, 0x00], vec![0x85, 0x6f, 0x4a, 0x83, 0x00], Vec::new()] {
            assert!(parts(stored).build().is_err());
        }
    }
}
