//! Conflicts: a field that two phones set to different values while offline. Automerge keeps
//! both values and shows one; this module finds every such field and says who wrote each value,
//! so the cadre can decide which is right (writing the field again resolves it).
//!
//! Who wrote a value is the actor of its operation. The phone knows its own actor (本机); for
//! the others it names the account that the actor's `by` fields carry (every phone writes its
//! account into the `by` of the entries, steps and voids it makes), and the time and message of
//! the change.

use std::collections::HashMap;

use automerge::ObjId as ExId;
use automerge::{ActorId, Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value};
use serde::{Deserialize, Serialize};
use zhibu_schema::{Collection, Year};

use crate::error::ClientError;
use crate::replica::json::{hydrated_json, scalar_json};
use crate::{DocKey, Phone};

/// One value of a conflicted field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The value as JSON (a map value as an object).
    pub value: serde_json::Value,
    /// The writer's actor id (hex).
    pub actor: String,
    /// Written on this phone.
    pub this_device: bool,
    /// The account the writer's phone records in its `by` fields, when known.
    pub account: Option<String>,
    /// When the change was made, by the writer's clock (Unix seconds).
    pub time: i64,
    /// The change's message (the action).
    pub message: Option<String>,
    /// The value the document currently shows.
    pub shown: bool,
}

/// A field with more than one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The document.
    pub key: DocKey,
    /// The record's collection.
    pub collection: Collection,
    /// The record's id (member id or record id).
    pub record: String,
    /// The field inside the record, dotted (`attendance.v1-m03.status`); empty when the whole
    /// record was made twice (two phones added the same member id).
    pub field: String,
    /// Every value the field holds, with its writer.
    pub values: Vec<ConflictValue>,
}

const COLLECTIONS: [Collection; 4] = [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases];

struct Found {
    collection: Collection,
    path: Vec<String>,
    values: Vec<(Value<'static>, ExId)>,
    shown: ExId,
}

fn walk(
    doc: &Automerge,
    obj: &ObjId,
    collection: Collection,
    path: &mut Vec<String>,
    out: &mut Vec<Found>,
    by: &mut HashMap<ActorId, String>,
) {
    for key in doc.keys(obj) {
        let Ok(all) = doc.get_all(obj, key.as_str()) else { continue };
        if key == "by" {
            for (value, id) in &all {
                if let (Value::Scalar(s), ExId::Id(_, actor, _)) = (value, id)
                    && let ScalarValue::Str(account) = s.as_ref()
                {
                    by.entry(actor.clone()).or_insert_with(|| account.to_string());
                }
            }
        }
        let Ok(Some((shown_value, shown))) = doc.get(obj, key.as_str()) else { continue };
        // A voided record no longer counts and can no longer be edited: nothing in it is left
        // to decide. Its `by` fields still say whose phone wrote them.
        if path.is_empty() && voided(doc, &shown) {
            walk(doc, &shown, collection, &mut vec![key.clone()], &mut Vec::new(), by);
            continue;
        }
        path.push(key.clone());
        if all.len() > 1 {
            let values = all.into_iter().map(|(v, id)| (v.into_owned(), id)).collect();
            out.push(Found { collection, path: path.clone(), values, shown: shown.clone() });
        }
        if let Value::Object(ObjType::Map) = shown_value {
            walk(doc, &shown, collection, path, out, by);
        }
        // A hidden value's `by` fields still say whose phone wrote them.
        for (value, id) in doc.get_all(obj, key.as_str()).unwrap_or_default() {
            if id != shown && matches!(value, Value::Object(ObjType::Map)) {
                walk(doc, &id, collection, path, &mut Vec::new(), by);
            }
        }
        path.pop();
    }
}

/// Whether the record `record` is voided (its `voided` is a map).
fn voided(doc: &Automerge, record: &ObjId) -> bool {
    matches!(doc.get(record, "voided"), Ok(Some((Value::Object(ObjType::Map), _))))
}

fn value_json(doc: &Automerge, value: &Value<'_>, id: &ExId) -> serde_json::Value {
    match value {
        Value::Scalar(s) => scalar_json(s),
        Value::Object(_) => ReadDoc::hydrate(doc, id, None).map_or(serde_json::Value::Null, |h| hydrated_json(&h)),
    }
}

fn find(doc: &Automerge) -> (Vec<Found>, HashMap<ActorId, String>) {
    let (mut out, mut by) = (Vec::new(), HashMap::new());
    for collection in COLLECTIONS {
        if let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(automerge::ROOT, collection.key()) {
            walk(doc, &obj, collection, &mut Vec::new(), &mut out, &mut by);
        }
    }
    (out, by)
}

/// Whether the values of a conflicted field differ: two phones that set a field to the same
/// value (both closed a case on the same day) disagree on nothing the cadre need decide.
fn differs(doc: &Automerge, found: &Found) -> bool {
    let mut values = found.values.iter().map(|(v, id)| value_json(doc, v, id));
    let first = values.next();
    values.any(|v| Some(&v) != first.as_ref())
}

/// How many conflicted fields a document has.
pub(crate) fn count(doc: &Automerge) -> usize {
    find(doc).0.iter().filter(|f| differs(doc, f)).count()
}

/// The conflicts of a document, with their writers.
pub(crate) fn conflicts_of(key: &DocKey, doc: &Automerge) -> Vec<Conflict> {
    let (found, by) = find(doc);
    let me = doc.get_actor();
    found
        .into_iter()
        .filter(|f| differs(doc, f))
        .map(|f| {
            let values = f
                .values
                .iter()
                .map(|(value, id)| {
                    let actor = match id {
                        ExId::Id(_, actor, _) => actor.clone(),
                        ExId::Root => ActorId::from(&[][..]),
                    };
                    let meta = doc.hash_for_opid(id).and_then(|h| doc.get_change_meta_by_hash(&h));
                    ConflictValue {
                        value: value_json(doc, value, id),
                        this_device: actor == *me,
                        account: by.get(&actor).cloned(),
                        actor: actor.to_hex_string(),
                        time: meta.as_ref().map_or(0, |m| m.timestamp),
                        message: meta.and_then(|m| m.message.map(|s| s.to_string())),
                        shown: *id == f.shown,
                    }
                })
                .collect();
            let (record, field) = match f.path.split_first() {
                Some((record, rest)) => (record.clone(), rest.join(".")),
                None => (String::new(), String::new()),
            };
            Conflict { key: key.clone(), collection: f.collection, record, field, values }
        })
        .collect()
}

impl Phone {
    /// Every field of `year`'s document that two phones set differently while offline, with
    /// each value and who wrote it.
    pub fn conflicts(&self, year: Year) -> Result<Vec<Conflict>, ClientError> {
        self.with(|inner| {
            let key = DocKey::new(inner.village()?, year);
            inner.undamaged(&key)?;
            Ok(inner.docs.get(&key).map(|d| conflicts_of(&key, &d.replica.doc)).unwrap_or_default())
        })
    }

    /// The rules `year`'s records break as they stand: most often made where two phones'
    /// edits met (one set a member's leaving day, the other their arrival), which the server
    /// stores rather than refuse the phone that never saw the other edit; also a rule the
    /// township's catalog tightened since.
    pub fn problems(&self, year: Year) -> Result<Vec<zhibu_schema::Violation>, ClientError> {
        self.with(|inner| {
            let key = DocKey::new(inner.village()?, year);
            inner.undamaged(&key)?;
            let catalog = &inner.catalog.catalog;
            Ok(inner
                .docs
                .get_mut(&key)
                .map(|d| d.replica.violations(catalog).into_iter().collect())
                .unwrap_or_default())
        })
    }
}
