//! The phones' fast path: one request carries, for every document on the phone, the changes
//! the server lacks; the reply carries the changes the phone lacks. One round trip on a 2G line
//! instead of the standard protocol's two or more.
//!
//! The phone remembers the server's heads from its last sync (`known`) and sends every change
//! that is not an ancestor of them, plus its own heads. When `known` was right, the server
//! then holds everything the phone has and answers with exactly what the phone lacks. When it
//! was not (the server lost data, or the phone's memory is stale), the server answers `Resync`
//! and the phone falls back to the standard protocol for that document.
//!
//! Encoding: CBOR (RFC 8949), so a client in any language can speak it; hashes and changes are
//! byte strings.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use automerge::{ActorId, Automerge, Change, ChangeHash, PatchLog, ReadDoc};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::admit::{Accepted, Applied, Gate, Refusal, admit_changes, new_to, owned, validated};
use crate::Catalog;
use crate::mapping::Hydrated;
use crate::{VillageId, Violation, Year};

/// Version of the fast-path encoding.
pub const FAST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastRequest {
    pub v: u32,
    pub docs: Vec<FastDoc>,
    /// The digest ([`Catalog::digest`]) of the catalog the phone has: the reply then says
    /// whether it is current, and carries the one in force when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
}

/// One document of a fast sync request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastDoc {
    pub village: VillageId,
    pub year: Year,
    /// The server's heads as of the phone's last sync (empty for a document new to the phone).
    pub known: Vec<ByteBuf>,
    /// The phone's current heads (empty when the phone has no copy yet).
    pub heads: Vec<ByteBuf>,
    /// Every change of the phone that is not an ancestor of `known`.
    pub changes: Vec<ByteBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastResponse {
    pub v: u32,
    pub docs: Vec<FastReply>,
    /// When the request named its catalog: the one in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<FastCatalog>,
}

/// The catalog in force for the caller: its digest, and the catalog itself when the phone's
/// is not this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastCatalog {
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FastReply {
    pub village: VillageId,
    pub year: Year,
    pub outcome: FastOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FastOutcome {
    /// Stored; apply `changes` and remember `heads` as the server's.
    Synced { heads: Vec<ByteBuf>, changes: Vec<ByteBuf> },
    /// The server cannot tell what the phone lacks: use the standard protocol for this document.
    Resync,
    /// Refused; nothing of this document was stored. `status` is the HTTP status the standard
    /// endpoint would answer (400, 403, 404 or 422).
    Refused { status: u16, code: String, message: String, violations: Vec<Violation> },
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("无法解析快速同步请求：{0}")]
    Decode(String),
}

impl FastRequest {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

impl FastResponse {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("writing CBOR to memory cannot fail");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, WireError> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| WireError::Decode(in_words(e)))?;
    if !rest.is_empty() {
        return Err(WireError::Decode(format!("CBOR 数据之后还有 {} 个多余的字节", rest.len())));
    }
    Ok(value)
}

/// What is wrong with a request's CBOR, as its developer reads it (API.md: a person reads
/// `message`); serde's words for the field are kept.
fn in_words(e: ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match e {
        Error::Io(_) => "请求内容不完整：CBOR 数据提前结束（或请求体为空）".to_owned(),
        Error::Syntax(at) => format!("第 {at} 字节处不是合法的 CBOR"),
        Error::RecursionLimitExceeded => "CBOR 嵌套层数过多".to_owned(),
        Error::Semantic(_, what) => match what.strip_prefix("missing field ") {
            Some(field) => format!("缺少字段 {}", field.trim_matches('`')),
            None => format!("内容与约定的格式不符（docs/API-EXTENSIONS.md）：{what}"),
        },
    }
}

pub fn hashes_to_wire(hashes: &[ChangeHash]) -> Vec<ByteBuf> {
    hashes.iter().map(|h| ByteBuf::from(h.0.to_vec())).collect()
}

pub fn hashes_from_wire(hashes: &[ByteBuf]) -> Result<Vec<ChangeHash>, Refusal> {
    hashes.iter().map(|h| ChangeHash::try_from(h.as_slice()).map_err(|e| Refusal::Undecodable(e.to_string()))).collect()
}

/// Admits one document of a fast request. `Ok(None)` means `Resync`: nothing to store.
pub fn receive_fast(
    base: &Automerge,
    doc: &FastDoc,
    gate: &Gate<'_>,
) -> Result<Option<(Accepted, FastOutcome)>, Refusal> {
    receive_fast_known(base, None, &[], doc, gate)
}

/// [`receive_fast`], given what the caller knows of the base: the base as read (`base_read`),
/// so that only the records the new changes touch are read again, and changes of it as they
/// were received (`received`, see [`lacking_changes`]). Malformed changes that make Automerge
/// panic are refused as undecodable (see [`crate::guard`]).
pub fn receive_fast_known(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    received: &[Arc<Change>],
    doc: &FastDoc,
    gate: &Gate<'_>,
) -> Result<Option<(Accepted, FastOutcome)>, Refusal> {
    crate::guard::refuse_panics(|| receive_fast_known_unguarded(base, base_read, received, doc, gate))
}

fn receive_fast_known_unguarded(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    received: &[Arc<Change>],
    doc: &FastDoc,
    gate: &Gate<'_>,
) -> Result<Option<(Accepted, FastOutcome)>, Refusal> {
    let changes = decoded(doc)?;
    let phone_heads = hashes_from_wire(&doc.heads)?;
    let new = new_to(base, &changes);
    let mut next = base.fork();
    // Every change the phone sent is one the base holds (a phone that only pulls, or sends
    // again what it sent): nothing to apply.
    let patches = if new.is_empty() {
        Vec::new()
    } else {
        let mut log = PatchLog::new(base_read.is_some());
        next.apply_changes_log_patches(changes, &mut log).map_err(|e| Refusal::Undecodable(e.to_string()))?;
        if !next.get_missing_deps(&[]).is_empty() {
            return Ok(None);
        }
        if base_read.is_some() { next.make_patches(&mut log) } else { Vec::new() }
    };
    let accepted = admit_changes(base, base_read, next, patches, new, gate)?;
    // A head of the phone the server does not hold: the phone's memory of the server is wrong.
    if !accepted.doc.get_missing_deps(&phone_heads).is_empty() {
        return Ok(None);
    }
    let outcome = FastOutcome::Synced {
        heads: hashes_to_wire(&accepted.doc.get_heads()),
        changes: lacking_changes(&accepted.doc, &phone_heads, received.iter().map(|c| &**c)),
    };
    Ok(Some((accepted, outcome)))
}

/// One of several phones' fast pushes to the same document admitted together
/// ([`receive_fast_together`]): its request, and the gate of its caller (the same document,
/// village, year and catalog for every member; the owner of the actors is the member's own).
#[derive(Debug)]
pub struct Member<'a> {
    pub doc: &'a FastDoc,
    pub gate: Gate<'a>,
}

/// Pushes admitted together: all their new changes as one [`Accepted`] (member by member, each
/// member's in causal order), and each member's share, in the order the members were given.
#[derive(Debug)]
pub struct Together {
    pub accepted: Accepted,
    pub shares: Vec<Share>,
}

/// One member's part of pushes admitted together.
#[derive(Debug)]
pub struct Share {
    /// How many of the accepted changes, after those of the members before it, are its own.
    pub changes: usize,
    /// Actors seen for the first time in them: bind them to this member's caller.
    pub bind: Vec<ActorId>,
    /// Its reply: the document's heads and every change it lacks, the other members' among them.
    pub outcome: FastOutcome,
}

/// Admits the fast pushes of several phones to the same document (`base`) as one: all their
/// new changes applied in one go, the result read and checked once. Automerge took three times
/// as long to apply a phone's month after another phone's month made at the same time as to
/// apply the first (the two months' objects interleave in its columns, so the second is spliced
/// in at hundreds of places); the two applied together take little more than one
/// (docs/PERFORMANCE.md).
///
/// `None` when they cannot be admitted as one: one of them would be refused or asked to resync,
/// the document with all of them breaks a rule, or they overlap in a way only one at a time can
/// settle (an actor new to two of them, a change that needs a later member's). The caller then
/// admits each alone, which says who is refused and why. Admitted together, each member's new
/// changes are ones its caller may write, and the document with all of them passes the rules
/// (only what they broke counts, as for one push).
pub fn receive_fast_together(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    received: &[Arc<Change>],
    members: &[Member<'_>],
) -> Option<Together> {
    crate::guard::refuse_panics(|| Ok(together_unguarded(base, base_read, received, members))).ok().flatten()
}

fn together_unguarded(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    received: &[Arc<Change>],
    members: &[Member<'_>],
) -> Option<Together> {
    let first = members.first()?;
    let mut all: Vec<Change> = Vec::new();
    // Which member each new change is counted for: the first that sent it.
    let mut sender: HashMap<ChangeHash, usize> = HashMap::new();
    let mut parts = Vec::with_capacity(members.len());
    let mut binding = HashSet::new();
    for (i, m) in members.iter().enumerate() {
        let phone_heads = hashes_from_wire(&m.doc.heads).ok()?;
        let new: Vec<Change> =
            new_to(base, &decoded(m.doc).ok()?).into_iter().filter(|c| !sender.contains_key(&c.hash())).collect();
        sender.extend(new.iter().map(|c| (c.hash(), i)));
        let bind = owned(&new, &m.gate).ok()?;
        if bind.iter().any(|a| !binding.insert(a.clone())) {
            return None;
        }
        parts.push((new.len(), bind, phone_heads));
        all.extend(new);
    }
    let after_its_dependencies =
        |c: &Change| c.deps().iter().all(|d| sender.get(d).is_none_or(|j| *j <= sender[&c.hash()]));
    if !all.iter().all(after_its_dependencies) {
        return None;
    }
    let mut next = base.fork();
    let patches = if all.is_empty() {
        Vec::new()
    } else {
        let mut log = PatchLog::new(base_read.is_some());
        next.apply_changes_log_patches(all.clone(), &mut log).ok()?;
        if !next.get_missing_deps(&[]).is_empty() {
            return None;
        }
        if base_read.is_some() { next.make_patches(&mut log) } else { Vec::new() }
    };
    let bind = parts.iter().flat_map(|(_, bind, _)| bind.iter().cloned()).collect();
    let authors: Vec<&str> = all.iter().map(|c| members[sender[&c.hash()]].gate.account).collect();
    let applied = Applied { next, patches, changes: all };
    let accepted = validated(base, base_read, applied, bind, &authors, &first.gate).ok()?;
    let heads = hashes_to_wire(&accepted.doc.get_heads());
    let mut shares = Vec::with_capacity(parts.len());
    for (changes, bind, phone_heads) in parts {
        if !accepted.doc.get_missing_deps(&phone_heads).is_empty() {
            return None;
        }
        let known = received.iter().map(|c| &**c).chain(&accepted.changes);
        let outcome =
            FastOutcome::Synced { heads: heads.clone(), changes: lacking_changes(&accepted.doc, &phone_heads, known) };
        shares.push(Share { changes, bind, outcome });
    }
    Some(Together { accepted, shares })
}

/// The changes a fast request carries.
fn decoded(doc: &FastDoc) -> Result<Vec<Change>, Refusal> {
    super::bounds::Budget::check_all(doc.changes.iter().map(|c| c.as_slice()))?;
    doc.changes
        .iter()
        .map(|c| Change::from_bytes(c.to_vec()).map_err(|e| Refusal::Undecodable(e.to_string())))
        .collect()
}

/// The changes of `doc` that a holder of `have` lacks, as bytes, in an order where each comes
/// after its dependencies. Automerge 0.12 rebuilds a change's bytes from the document's ops when
/// asked for it, which took a quarter of the time of a sync that only pulls; when every change
/// wanted is among `received` (changes of `doc` as they were received), their bytes are taken
/// from there instead. Only the changes' metadata is read from the document to know which.
pub fn lacking_changes<'a>(
    doc: &Automerge,
    have: &[ChangeHash],
    received: impl IntoIterator<Item = &'a Change>,
) -> Vec<ByteBuf> {
    let wanted = doc.get_changes_meta(have);
    if wanted.is_empty() {
        return Vec::new();
    }
    let by_hash: HashMap<ChangeHash, &Change> = received.into_iter().map(|c| (c.hash(), c)).collect();
    match wanted.iter().map(|m| by_hash.get(&m.hash)).collect::<Option<Vec<_>>>() {
        Some(found) => found.into_iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
        None => doc.get_changes(have).into_iter().map(|c| ByteBuf::from(c.raw_bytes().to_vec())).collect(),
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    /// A request the server cannot read is said in words its developer can act on, and bytes
    /// after the request are not quietly ignored.
    #[test]
    fn an_unreadable_request_says_what_is_wrong() {
        let said = |bytes: &[u8]| FastRequest::decode(bytes).expect_err("refused").to_string();
        assert!(said(&[]).contains("请求内容不完整"), "{}", said(&[]));
        let mut no_version = Vec::new();
        ciborium::into_writer(&serde_json::json!({"docs": []}), &mut no_version).expect("cbor");
        assert!(said(&no_version).contains("缺少字段 v"), "{}", said(&no_version));
        let mut trailing = Vec::new();
        ciborium::into_writer(&serde_json::json!({"v": 1, "docs": []}), &mut trailing).expect("cbor");
        assert!(FastRequest::decode(&trailing).is_ok());
        trailing.extend([0xff, 0x00]);
        assert!(said(&trailing).contains("多余的字节"), "{}", said(&trailing));
    }
}
