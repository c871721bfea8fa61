//! What the phone knows of the server for one document, kept in `VILLAGE.YEAR.sync.json`.
//!
//! Invariant: the file is only ever replaced whole (`write_atomic`), and always *after* the
//! changes it describes are durable in the document's own files. So after a crash it may be
//! older than the document (the phone then re-sends changes the server already has, which is
//! harmless: changes are identified by hash), never newer (it never names server heads the
//! phone lacks as if it had them; and any it names are checked against the document anyway).

use std::path::{Path, PathBuf};

use automerge::ChangeHash;
use automerge::sync;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zhibu_schema::Violation;

use crate::DocKey;
use crate::clock;
use crate::error::{ClientError, ServerRefusal};
use crate::store::{read_optional, write_atomic};

/// A refusal from the server, kept until a later sync of the document succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRefusal {
    pub refusal: ServerRefusal,
    pub at: OffsetDateTime,
    /// The phone's heads when it was refused: the same heads would be refused again.
    pub heads: Vec<ChangeHash>,
}

/// The sync metadata of one document.
#[derive(Debug, Clone, Default)]
pub struct SyncMeta {
    /// The server's heads as of the last successful sync; empty before the first.
    pub server_heads: Vec<ChangeHash>,
    /// The standard protocol's state, as `State::encode` keeps it (the shared heads).
    pub sync_state: sync::State,
    pub last_sync: Option<OffsetDateTime>,
    pub refusal: Option<RecordedRefusal>,
}

#[derive(Serialize, Deserialize, Default)]
struct Wire {
    #[serde(default)]
    server_heads: Vec<String>,
    #[serde(default)]
    sync_state: Option<String>,
    #[serde(default)]
    last_sync: Option<String>,
    #[serde(default)]
    refusal: Option<WireRefusal>,
}

#[derive(Serialize, Deserialize)]
struct WireRefusal {
    status: u16,
    code: String,
    message: String,
    #[serde(default)]
    violations: Vec<Violation>,
    at: String,
    heads: Vec<String>,
}

pub(crate) fn path_for(dir: &Path, key: &DocKey) -> PathBuf {
    dir.join(format!("{}.sync.json", key.stem()))
}

fn hashes(text: &[String]) -> Option<Vec<ChangeHash>> {
    text.iter().map(|h| h.parse().ok()).collect()
}

fn texts(hashes: &[ChangeHash]) -> Vec<String> {
    hashes.iter().map(ToString::to_string).collect()
}

impl SyncMeta {
    /// The metadata in `path`; nothing known when there is none, or when it cannot be read: it
    /// only saves work (the phone then asks the server afresh, and a refusal still standing
    /// comes back at the next sync), so a damaged file must not keep the phone from opening.
    pub(crate) fn load(path: &Path) -> Result<SyncMeta, ClientError> {
        let Some(bytes) = read_optional(path)? else { return Ok(SyncMeta::default()) };
        SyncMeta::decode(path, &bytes).or_else(|e| {
            tracing::warn!(error = %e, "sync metadata unreadable; starting afresh");
            Ok(SyncMeta::default())
        })
    }

    fn decode(path: &Path, bytes: &[u8]) -> Result<SyncMeta, ClientError> {
        let bad = |detail: &str| ClientError::damaged(path, detail);
        let wire: Wire = serde_json::from_slice(bytes).map_err(|e| ClientError::damaged(path, e))?;
        let sync_state = match wire.sync_state {
            None => sync::State::new(),
            Some(text) => hex::decode(text)
                .ok()
                .and_then(|b| sync::State::decode(&b).ok())
                .ok_or_else(|| bad("同步状态无法解析"))?,
        };
        let refusal = match wire.refusal {
            None => None,
            Some(r) => Some(RecordedRefusal {
                refusal: ServerRefusal { status: r.status, code: r.code, message: r.message, violations: r.violations },
                at: clock::parse(&r.at).ok_or_else(|| bad("时间格式不对"))?,
                heads: hashes(&r.heads).ok_or_else(|| bad("修改编号不对"))?,
            }),
        };
        Ok(SyncMeta {
            server_heads: hashes(&wire.server_heads).ok_or_else(|| bad("修改编号不对"))?,
            sync_state,
            last_sync: match wire.last_sync {
                None => None,
                Some(t) => Some(clock::parse(&t).ok_or_else(|| bad("时间格式不对"))?),
            },
            refusal,
        })
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), ClientError> {
        let wire = Wire {
            server_heads: texts(&self.server_heads),
            sync_state: Some(hex::encode(self.sync_state.encode())),
            last_sync: self.last_sync.map(clock::format),
            refusal: self.refusal.as_ref().map(|r| WireRefusal {
                status: r.refusal.status,
                code: r.refusal.code.clone(),
                message: r.refusal.message.clone(),
                violations: r.refusal.violations.clone(),
                at: clock::format(r.at),
                heads: texts(&r.heads),
            }),
        };
        write_atomic(path, &serde_json::to_vec_pretty(&wire).expect("metadata serializes"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhibu_schema::{Collection, Rule};

    #[test]
    fn metadata_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("v1.2026.sync.json");
        assert!(SyncMeta::load(&path).unwrap().server_heads.is_empty(), "absent file: nothing known");
        let h = ChangeHash([7; 32]);
        let mut state = sync::State::new();
        state.shared_heads = vec![h];
        let at = clock::parse(&clock::format(clock::now())).unwrap();
        let meta = SyncMeta {
            server_heads: vec![h],
            sync_state: state,
            last_sync: Some(at),
            refusal: Some(RecordedRefusal {
                refusal: ServerRefusal {
                    status: 422,
                    code: "invalid_records".into(),
                    message: "不合规".into(),
                    violations: vec![Violation::new(Collection::Points, "x", "delta", Rule::DeltaOutOfRange, "太大")],
                },
                at,
                heads: vec![h],
            }),
        };
        meta.save(&path).unwrap();
        let back = SyncMeta::load(&path).unwrap();
        assert_eq!(back.server_heads, vec![h]);
        assert_eq!(back.sync_state.shared_heads, vec![h]);
        assert_eq!(back.last_sync, Some(at));
        assert_eq!(back.refusal, meta.refusal);
    }
}
