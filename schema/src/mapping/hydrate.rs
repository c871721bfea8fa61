//! An object of a document and everything under it, as Automerge's `hydrate` gives it, made in
//! one pass over the document's operations.
//!
//! Automerge 0.12's own `hydrate` finds each object's operations afresh (a seek into the
//! operation columns per object): a busy village-year holds some two thousand small objects (a
//! meeting's attendance is a map of maps), and reading it whole took 12.9 ms, the larger part
//! of a server's work on a document it did not hold in memory. Its [`ReadDoc::iter_at`] walks
//! the same operations once, objects in the order they were made (each after the object
//! holding it); this gathers what it yields by object and puts the values together, in 6.2 ms
//! (docs/PERFORMANCE.md). Text is read with [`ReadDoc::text`], as
//! Automerge's `hydrate` reads it.

use std::collections::HashMap;

use automerge::hydrate::{List, Map, MapValue, Text, Value};
use automerge::iter::{DocItem, Span};
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, ValueRef};

/// The object `obj` (of type `typ`) of `doc` and everything under it, at the document's heads:
/// what `doc.hydrate(obj, None)` gives, lists' items without their conflict flag (a map's
/// entries keep theirs).
pub fn hydrate(doc: &impl ReadDoc, obj: &ObjId, typ: ObjType) -> Result<Value, automerge::AutomergeError> {
    let mut objects = vec![Object::new(typ, obj.clone())];
    let mut index: HashMap<Key, usize> = HashMap::from([(key(obj), 0)]);
    // Items come object by object: the last object's place saves a lookup per item.
    let mut last = (key(obj), 0);
    for item in doc.iter_at(obj, None) {
        let at = match key(&item.obj) {
            k if k == last.0 => last.1,
            k => match index.get(&k) {
                Some(&at) => {
                    last = (k, at);
                    at
                }
                // An object no value of the tree holds now (deleted, or a conflict's loser).
                None => continue,
            },
        };
        match item.item {
            DocItem::Map(m) => {
                let value = place(&mut objects, &mut index, m.value.clone(), || m.id());
                objects[at].entries.push((m.key.into_owned(), value, m.conflict));
            }
            DocItem::List(l) => {
                let value = place(&mut objects, &mut index, l.value.clone(), || l.id());
                objects[at].entries.push((String::new(), value, l.conflict));
            }
            // Read whole below.
            DocItem::Text(Span::Text { .. } | Span::Block(_)) => {}
        }
    }
    // Every object comes after the object holding it: put together from the last, each is
    // whole when its holder takes it.
    let mut made: Vec<Option<Value>> = Vec::with_capacity(objects.len());
    made.resize_with(objects.len(), || None);
    for (at, object) in objects.into_iter().enumerate().rev() {
        let mut take = |slot: Slot| match slot {
            Slot::Scalar(s) => Value::Scalar(s),
            Slot::Object(child) => made[child].take().unwrap_or_else(|| Value::Map(Map::default())),
        };
        let value = match object.typ {
            ObjType::Map | ObjType::Table => {
                let mut map = Map::default();
                map.reserve(object.entries.len());
                for (key, slot, conflict) in object.entries {
                    map.insert(key, MapValue { value: take(slot), conflict });
                }
                Value::Map(map)
            }
            ObjType::List => {
                Value::List(List::from(object.entries.into_iter().map(|(_, slot, _)| take(slot)).collect::<Vec<_>>()))
            }
            ObjType::Text => Value::Text(Text::new(doc.text_encoding(), doc.text(&object.id)?)),
        };
        made[at] = Some(value);
    }
    Ok(made.swap_remove(0).unwrap_or_else(|| Value::Map(Map::default())))
}

/// A value met while walking the document: an object is added to those met (its id made only
/// then: making one copies the actor's id).
fn place(
    objects: &mut Vec<Object>,
    index: &mut HashMap<Key, usize>,
    value: ValueRef<'_>,
    id: impl FnOnce() -> ObjId,
) -> Slot {
    match value {
        ValueRef::Object(typ) => {
            let id = id();
            index.insert(key(&id), objects.len());
            objects.push(Object::new(typ, id));
            Slot::Object(objects.len() - 1)
        }
        ValueRef::Scalar(s) => Slot::Scalar(ScalarValue::from(s)),
    }
}

/// An object by its id within one document: the id's counter and actor index.
type Key = (u64, usize);

fn key(id: &ObjId) -> Key {
    match id {
        ObjId::Root => (0, usize::MAX),
        ObjId::Id(counter, _, actor) => (*counter, *actor),
    }
}

/// An object met while walking the document, with its entries (a list's in order, keys empty).
struct Object {
    typ: ObjType,
    id: ObjId,
    entries: Vec<(String, Slot, bool)>,
}

impl Object {
    fn new(typ: ObjType, id: ObjId) -> Self {
        Object { typ, id, entries: Vec::new() }
    }
}

enum Slot {
    Scalar(ScalarValue),
    /// An object, by its place among those met.
    Object(usize),
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ROOT};
    use proptest::prelude::*;

    use super::*;

    /// What Automerge's own `hydrate` gives, lists' conflict flags left out.
    fn automerges(doc: &Automerge, obj: &ObjId) -> Value {
        fn plain(v: Value) -> Value {
            match v {
                Value::Map(m) => {
                    let mut out = Map::default();
                    for (k, MapValue { value, conflict }) in m.iter() {
                        out.insert(k.clone(), MapValue { value: plain(value.clone()), conflict: *conflict });
                    }
                    Value::Map(out)
                }
                Value::List(l) => Value::List(List::from(l.iter().map(|i| plain(i.value.clone())).collect::<Vec<_>>())),
                other => other,
            }
        }
        plain(ReadDoc::hydrate(doc, obj, None).expect("hydrates"))
    }

    /// Every object of `doc` under `obj` (itself first), by walking it through Automerge's API.
    fn objects(doc: &Automerge, obj: ObjId, typ: ObjType, out: &mut Vec<(ObjId, ObjType)>) {
        out.push((obj.clone(), typ));
        let children: Vec<(ObjId, ObjType)> = match typ {
            ObjType::Map | ObjType::Table => doc
                .map_range(&obj, ..)
                .filter_map(|i| match i.value {
                    automerge::ValueRef::Object(t) => Some((i.id(), t)),
                    _ => None,
                })
                .collect(),
            ObjType::List => doc
                .list_range(&obj, ..)
                .filter_map(|i| match i.value {
                    automerge::ValueRef::Object(t) => Some((i.id(), t)),
                    _ => None,
                })
                .collect(),
            ObjType::Text => Vec::new(),
        };
        for (id, t) in children {
            objects(doc, id, t, out);
        }
    }

    #[derive(Debug, Clone)]
    enum New {
        Int(i64),
        Str(u8),
        Counter(i64),
        Object(u8),
        Text(u8),
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// On phone `phone`, in its `obj`-th object (modulo how many it has): put at key or
        /// insert at index `at`.
        Put {
            phone: usize,
            obj: usize,
            at: u8,
            new: New,
        },
        Delete {
            phone: usize,
            obj: usize,
            at: u8,
        },
        Increment {
            phone: usize,
            obj: usize,
            at: u8,
            by: i64,
        },
        Splice {
            phone: usize,
            obj: usize,
            at: u8,
            text: u8,
        },
        /// Phone `into` takes what phone `from` holds.
        Merge {
            into: usize,
            from: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        let new = prop_oneof![
            any::<i64>().prop_map(New::Int),
            any::<u8>().prop_map(New::Str),
            (-5i64..5).prop_map(New::Counter),
            (0u8..3).prop_map(New::Object),
            any::<u8>().prop_map(New::Text),
        ];
        let at = 0u8..6;
        prop_oneof![
            4 => (0..3usize, any::<usize>(), at.clone(), new).prop_map(|(phone, obj, at, new)| Step::Put { phone, obj, at, new }),
            1 => (0..3usize, any::<usize>(), at.clone()).prop_map(|(phone, obj, at)| Step::Delete { phone, obj, at }),
            1 => (0..3usize, any::<usize>(), at.clone(), -3i64..3).prop_map(|(phone, obj, at, by)| Step::Increment { phone, obj, at, by }),
            1 => (0..3usize, any::<usize>(), at, any::<u8>()).prop_map(|(phone, obj, at, text)| Step::Splice { phone, obj, at, text }),
            1 => (0..3usize, 0..3usize).prop_map(|(into, from)| Step::Merge { into, from }),
        ]
    }

    /// Applies a step; a step the object does not allow (a counter increment on a string, an
    /// index past a list's end) is left out.
    fn apply(phones: &mut [Automerge], step: &Step) {
        if let Step::Merge { into, from } = *step {
            if into != from {
                let mut other = phones[from].clone();
                phones[into].merge(&mut other).expect("merges");
            }
            return;
        }
        let (Step::Put { phone, obj, at, .. }
        | Step::Delete { phone, obj, at }
        | Step::Increment { phone, obj, at, .. }
        | Step::Splice { phone, obj, at, .. }) = *step
        else {
            return;
        };
        let doc = &mut phones[phone];
        let mut all = Vec::new();
        objects(doc, ROOT, ObjType::Map, &mut all);
        let (obj, typ) = all[obj % all.len()].clone();
        let key = format!("k{at}");
        let index = usize::from(at);
        let mut tx = doc.transaction();
        let _ = match (step, typ) {
            (Step::Put { new, .. }, ObjType::Map | ObjType::Table) => match new {
                New::Int(n) => tx.put(&obj, &key, *n).map(drop),
                New::Str(s) => tx.put(&obj, &key, format!("s{s}")).map(drop),
                New::Counter(n) => tx.put(&obj, &key, ScalarValue::counter(*n)).map(drop),
                New::Object(0) => tx.put_object(&obj, &key, ObjType::Map).map(drop),
                New::Object(1) => tx.put_object(&obj, &key, ObjType::List).map(drop),
                New::Object(_) => tx.put_object(&obj, &key, ObjType::Text).map(drop),
                New::Text(t) => tx.put(&obj, &key, format!("t{t}")).map(drop),
            },
            (Step::Put { new, .. }, ObjType::List) => match new {
                New::Int(n) => tx.insert(&obj, index, *n).map(drop),
                New::Str(s) => tx.insert(&obj, index, format!("s{s}")).map(drop),
                New::Counter(n) => tx.insert(&obj, index, ScalarValue::counter(*n)).map(drop),
                New::Object(0) => tx.insert_object(&obj, index, ObjType::Map).map(drop),
                New::Object(1) => tx.insert_object(&obj, index, ObjType::List).map(drop),
                New::Object(_) => tx.insert_object(&obj, index, ObjType::Text).map(drop),
                New::Text(t) => tx.put(&obj, index, format!("t{t}")).map(drop),
            },
            (Step::Delete { .. }, ObjType::Map | ObjType::Table) => tx.delete(&obj, &key),
            (Step::Delete { .. }, _) => tx.delete(&obj, index),
            (Step::Increment { by, .. }, ObjType::Map | ObjType::Table) => tx.increment(&obj, &key, *by),
            (Step::Increment { by, .. }, ObjType::List) => tx.increment(&obj, index, *by),
            (Step::Splice { text, .. }, ObjType::Text) => tx.splice_text(&obj, index, 1, &format!("x{text}")).map(drop),
            _ => Ok(()),
        };
        tx.commit();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Every object of a document edited by three phones that merge now and then, and the
        /// document whole, are what Automerge's own `hydrate` gives.
        #[test]
        fn one_pass_gives_what_automerge_gives(steps in proptest::collection::vec(step(), 0..40)) {
            let mut phones: Vec<Automerge> = (0u8..3)
                .map(|n| Automerge::new().with_actor(ActorId::from([n + 1; 16].as_slice())))
                .collect();
            for s in &steps {
                apply(&mut phones, s);
            }
            for doc in &phones {
                let mut all = Vec::new();
                objects(doc, ROOT, ObjType::Map, &mut all);
                for (obj, typ) in all {
                    prop_assert_eq!(hydrate(doc, &obj, typ).expect("hydrates"), automerges(doc, &obj));
                }
            }
        }
    }

    #[test]
    fn a_village_year_is_read_as_automerge_reads_it() {
        let am = crate::testutil::automerge_of(&crate::testutil::village());
        assert_eq!(hydrate(&am, &ROOT, ObjType::Map).expect("hydrates"), automerges(&am, &ROOT));
    }
}
