//! Writing records into a village-year document in API.md's layout.
//!
//! A record is written field by field into the map that already holds it, and only the fields
//! whose value changes are written. So an edit produces the fewest operations, two phones that
//! edit different fields of one record merge cleanly, and a field two phones set differently is
//! a real Automerge conflict on that field alone. Keys this crate does not know (written by a
//! newer client) are left alone; a known field that became empty is deleted.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT, ScalarValue, Value as AmValue};
use serde::Serialize;
use serde_json::Value as Json;

use crate::{Collection, RecordId, SCHEMA_VERSION, VillageId, Year};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("写入文档失败：{0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("记录无法转换：{0}")]
    Encode(#[from] serde_json::Error),
    #[error("{0} 不是可写入的取值")]
    Unsupported(&'static str),
}

/// The actor of the genesis change of a village-year document.
pub fn genesis_actor(village: &VillageId, year: Year) -> ActorId {
    ActorId::from(format!("{GENESIS_PREFIX}{village}/{year}").into_bytes())
}

/// How every genesis actor's id begins.
pub(crate) const GENESIS_PREFIX: &str = "zhibu-genesis/";

/// The first change of every village-year document: the header and the four empty
/// collections. Every replica makes it byte for byte the same (fixed actor, time and
/// message), so its hash is the same everywhere and two phones that start a year offline never
/// create competing `members` maps.
pub fn genesis(village: &VillageId, year: Year) -> Automerge {
    let mut doc = Automerge::new().with_actor(genesis_actor(village, year));
    doc.transact_with::<_, _, WriteError, _>(
        |_| CommitOptions::default().with_message("genesis").with_time(0),
        |tx| {
            tx.put(ROOT, "schema_version", SCHEMA_VERSION)?;
            tx.put(ROOT, "village_id", village.as_str())?;
            tx.put(ROOT, "year", i64::from(year))?;
            for c in [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases] {
                tx.put_object(ROOT, c.key(), ObjType::Map)?;
            }
            Ok(())
        },
    )
    .map_err(|f| f.error)
    .expect("the genesis change is fixed and always applies");
    doc
}

/// Writes a value at a path of map keys from the root, creating missing maps on the way and
/// merging into existing ones.
pub fn put_at<T: Serialize + ?Sized>(tx: &mut impl Transactable, path: &[&str], value: &T) -> Result<(), WriteError> {
    let (last, parents) = path.split_last().ok_or(WriteError::Unsupported("empty path"))?;
    let mut obj = ROOT;
    for key in parents {
        obj = ensure_map(tx, &obj, key)?;
    }
    put_json(tx, &obj, last, &serde_json::to_value(value)?)
}

/// Writes a map at a path of map keys from the root as a map made anew, in place of what was
/// there: its old fields go, and a concurrent edit of the old map stays in the old map. For an
/// entry another account made (a case step recorded again by another cadre), which no one but
/// its maker may write into.
pub fn replace_at<T: Serialize + ?Sized>(
    tx: &mut impl Transactable,
    path: &[&str],
    value: &T,
) -> Result<(), WriteError> {
    let (last, parents) = path.split_last().ok_or(WriteError::Unsupported("empty path"))?;
    let mut obj = ROOT;
    for key in parents {
        obj = ensure_map(tx, &obj, key)?;
    }
    let Json::Object(fields) = serde_json::to_value(value)? else { return Err(WriteError::Unsupported("not a map")) };
    let map = tx.put_object(&obj, *last, ObjType::Map)?;
    for (k, v) in &fields {
        put_json(tx, &map, k, v)?;
    }
    Ok(())
}

/// Writes a whole record (member, meeting, point entry or case) under its id.
pub fn put_record<T: Serialize>(
    tx: &mut impl Transactable,
    collection: Collection,
    id: &str,
    record: &T,
) -> Result<(), WriteError> {
    put_at(tx, &[collection.key(), id], record)
}

/// Writes a record by id under its collection.
pub fn put_record_id<T: Serialize>(
    tx: &mut impl Transactable,
    collection: Collection,
    id: &RecordId,
    record: &T,
) -> Result<(), WriteError> {
    put_record(tx, collection, id.as_str(), record)
}

fn ensure_map(tx: &mut impl Transactable, obj: &automerge::ObjId, key: &str) -> Result<automerge::ObjId, WriteError> {
    match tx.get(obj, key)? {
        Some((AmValue::Object(ObjType::Map), id)) => Ok(id),
        _ => Ok(tx.put_object(obj, key, ObjType::Map)?),
    }
}

fn scalar(v: &Json) -> Result<ScalarValue, WriteError> {
    Ok(match v {
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Number(n) => ScalarValue::Int(n.as_i64().ok_or(WriteError::Unsupported("non-integer number"))?),
        Json::Null | Json::Array(_) | Json::Object(_) => return Err(WriteError::Unsupported("nested value")),
    })
}

fn same_scalar(current: &AmValue<'_>, tx: &impl Transactable, id: &automerge::ObjId, new: &ScalarValue) -> bool {
    match (current, new) {
        (AmValue::Scalar(s), new) => match (s.as_ref(), new) {
            (ScalarValue::Int(a), ScalarValue::Int(b)) => a == b,
            (ScalarValue::Uint(a), ScalarValue::Int(b)) => i64::try_from(*a).ok() == Some(*b),
            (ScalarValue::F64(a), ScalarValue::Int(b)) => *a == *b as f64,
            (a, b) => a == b,
        },
        // JavaScript writes strings as text objects: same characters, nothing to write.
        (AmValue::Object(ObjType::Text), ScalarValue::Str(s)) => tx.text(id).is_ok_and(|t| t == s.as_str()),
        _ => false,
    }
}

fn put_json(tx: &mut impl Transactable, obj: &automerge::ObjId, key: &str, value: &Json) -> Result<(), WriteError> {
    let current = tx.get(obj, key)?.map(|(v, id)| (v.to_owned(), id));
    let conflicted = tx.get_all(obj, key)?.len() > 1;
    match value {
        Json::Null => {
            if current.is_some() {
                tx.delete(obj, key)?;
            }
        }
        Json::Object(fields) => {
            let map = match current {
                Some((AmValue::Object(ObjType::Map), id)) => id,
                _ => tx.put_object(obj, key, ObjType::Map)?,
            };
            for (k, v) in fields {
                put_json(tx, &map, k, v)?;
            }
        }
        Json::Array(_) => return Err(WriteError::Unsupported("list")),
        _ => {
            let new = scalar(value)?;
            // Writing over a conflict resolves it, even to the value that happened to win.
            let unchanged = !conflicted && current.as_ref().is_some_and(|(v, id)| same_scalar(v, tx, id, &new));
            if !unchanged {
                tx.put(obj, key, new)?;
            }
        }
    }
    Ok(())
}

/// Writes every record of a document (used to seed rosters and in tests).
pub fn put_document(tx: &mut impl Transactable, doc: &crate::VillageYear) -> Result<(), WriteError> {
    for (id, m) in &doc.members {
        put_record(tx, Collection::Members, id.as_str(), m)?;
    }
    for (id, m) in &doc.meetings {
        put_record_id(tx, Collection::Meetings, id, m)?;
    }
    for (id, p) in &doc.points {
        put_record_id(tx, Collection::Points, id, p)?;
    }
    for (id, c) in &doc.cases {
        put_record_id(tx, Collection::Cases, id, c)?;
    }
    Ok(())
}
