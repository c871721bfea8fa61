//! Which changes of a village-year document touched one record (a meeting or a case), and what
//! each of them wrote there.
//!
//! A change's own effect is the difference between the document at the change's dependencies
//! and at the change itself; only the record's part of the document is diffed: the
//! collection's own keys (to find the change that put the record under its id, or put a new
//! object there) and the subtree of every object that was ever put there. Concurrent edits
//! elsewhere never show, and the cost grows with the record, not with the whole document.

use automerge::{Automerge, ChangeHash, ObjId, ObjType, PatchAction, ROOT, ReadDoc, ScalarValue, Value};

/// One change that touched the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub hash: ChangeHash,
    /// The change put the record under its id (created it, or replaced it whole).
    pub created: bool,
    /// What the change wrote: the field's path inside the record, and the new value (None
    /// when the field was deleted). Nested maps are paths: `attendance/<member>/status`.
    pub writes: Vec<(Vec<String>, Option<String>)>,
}

fn scalar(s: &ScalarValue) -> String {
    match s {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::F64(f) if f.fract() == 0.0 => format!("{f:.0}"),
        ScalarValue::Boolean(b) => if *b { "是" } else { "否" }.to_owned(),
        other => other.to_string(),
    }
}

/// Every change that touched `collection/id`, in the document's causal order.
pub fn touches(doc: &Automerge, collection: &str, id: &str) -> Vec<Touch> {
    let Ok(Some((Value::Object(ObjType::Map), collection_obj))) = doc.get(ROOT, collection) else {
        return Vec::new();
    };
    let mut objects: Vec<ObjId> = Vec::new();
    let mut out = Vec::new();
    for meta in doc.get_changes_meta(&[]) {
        let after = [meta.hash];
        let mut created = false;
        let mut writes = Vec::new();
        for p in doc.diff_obj(&collection_obj, &meta.deps, &after, false).unwrap_or_default() {
            match p.action {
                PatchAction::PutMap { key, value: (v, obj), .. } if key == id => {
                    created = true;
                    match v {
                        Value::Object(_) if !objects.contains(&obj) => objects.push(obj),
                        Value::Object(_) => {}
                        Value::Scalar(s) => writes.push((Vec::new(), Some(scalar(&s)))),
                    }
                }
                PatchAction::DeleteMap { key } if key == id => writes.push((Vec::new(), None)),
                _ => {}
            }
        }
        for record in &objects {
            for p in doc.diff_obj(record, &meta.deps, &after, true).unwrap_or_default() {
                let start = p.path.iter().position(|(o, _)| o == record).unwrap_or(p.path.len());
                let mut path: Vec<String> = p.path[start..].iter().map(|(_, prop)| prop.to_string()).collect();
                let value = match p.action {
                    PatchAction::PutMap { key, value: (Value::Scalar(s), _), .. } => {
                        path.push(key);
                        Some(scalar(&s))
                    }
                    // A new map or text shows through the writes inside it.
                    PatchAction::PutMap { .. } => continue,
                    PatchAction::DeleteMap { key } => {
                        path.push(key);
                        None
                    }
                    PatchAction::SpliceText { value, .. } => Some(value.make_string()),
                    _ => continue,
                };
                writes.push((path, value));
            }
        }
        if created || !writes.is_empty() {
            out.push(Touch { hash: meta.hash, created, writes });
        }
    }
    out
}

/// A field of the record that holds more than one value: two phones set it differently while
/// offline. Automerge keeps every value and shows one; the others stay in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The field's path inside the record (`attendance/<member>`).
    pub path: Vec<String>,
    /// Every value, the one the document shows first.
    pub values: Vec<ConflictValue>,
}

/// One value of a conflicted field.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictValue {
    /// What it holds: the value itself (an empty path), or a map's fields by their paths below
    /// the conflicted field.
    pub fields: Vec<(Vec<String>, String)>,
    /// The change that wrote it.
    pub hash: Option<ChangeHash>,
    /// The document shows this value.
    pub shown: bool,
}

/// The fields of `collection/id` that hold more than one different value (inside the record
/// as the document shows it: record ids are made once, by one phone).
pub fn conflicts(doc: &Automerge, collection: &str, id: &str) -> Vec<Conflict> {
    let mut out = Vec::new();
    if let Ok(Some((Value::Object(ObjType::Map), collection_obj))) = doc.get(ROOT, collection)
        && let Ok(Some((Value::Object(ObjType::Map), record))) = doc.get(&collection_obj, id)
    {
        for key in doc.keys(&record).collect::<Vec<_>>() {
            conflicts_at(doc, &record, &key, &mut vec![key.clone()], &mut out);
        }
    }
    out
}

fn conflicts_at(doc: &Automerge, obj: &ObjId, key: &str, path: &mut Vec<String>, out: &mut Vec<Conflict>) {
    let Ok(Some((shown_value, shown))) = doc.get(obj, key) else { return };
    let all = doc.get_all(obj, key).unwrap_or_default();
    if all.len() > 1 {
        let mut values: Vec<ConflictValue> = all
            .iter()
            .map(|(v, id)| ConflictValue { fields: held(doc, v, id), hash: doc.hash_for_opid(id), shown: *id == shown })
            .collect();
        values.sort_by_key(|v| !v.shown);
        // Two phones that wrote the same value disagree on nothing.
        if values.iter().any(|v| v.fields != values[0].fields) {
            out.push(Conflict { path: path.clone(), values });
        }
    }
    if let Value::Object(ObjType::Map) = shown_value {
        for k in doc.keys(&shown).collect::<Vec<_>>() {
            path.push(k.clone());
            conflicts_at(doc, &shown, &k, path, out);
            path.pop();
        }
    }
}

/// What one value holds, as paths below it and their values as text.
fn held(doc: &Automerge, value: &Value<'_>, id: &ObjId) -> Vec<(Vec<String>, String)> {
    match value {
        Value::Scalar(s) => vec![(Vec::new(), scalar(s))],
        Value::Object(ObjType::Text) => vec![(Vec::new(), doc.text(id).unwrap_or_default())],
        Value::Object(ObjType::Map) => {
            let mut out = Vec::new();
            for k in doc.keys(id).collect::<Vec<_>>() {
                if let Ok(Some((v, inner))) = doc.get(id, k.as_str()) {
                    for (mut p, text) in held(doc, &v, &inner) {
                        p.insert(0, k.clone());
                        out.push((p, text));
                    }
                }
            }
            out
        }
        Value::Object(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ObjType, ROOT};

    use super::*;

    fn doc_with_two_meetings() -> (Automerge, ChangeHash, ChangeHash, ChangeHash) {
        let mut d = AutoCommit::new().with_actor(ActorId::from(b"phone-a".as_slice()));
        let meetings = d.put_object(ROOT, "meetings", ObjType::Map).expect("put");
        let a = d.put_object(&meetings, "a", ObjType::Map).expect("put");
        d.put(&a, "topic", "学习").expect("put");
        let att = d.put_object(&a, "attendance", ObjType::Map).expect("put");
        let m1 = d.put_object(&att, "m1", ObjType::Map).expect("put");
        d.put(&m1, "status", "absent").expect("put");
        let created = d.commit().expect("commit");
        let b = d.put_object(&meetings, "b", ObjType::Map).expect("put");
        d.put(&b, "topic", "另一次").expect("put");
        let other = d.commit().expect("commit");
        d.put(&m1, "status", "present").expect("put");
        let edited = d.commit().expect("commit");
        (d.document().clone(), created, other, edited)
    }

    #[test]
    fn a_field_two_phones_set_differently_is_a_conflict_with_both_values() {
        let (base, ..) = doc_with_two_meetings();
        let mut a = AutoCommit::load(&base.save()).expect("load").with_actor(ActorId::from(b"phone-a".as_slice()));
        let mut b = a.fork().with_actor(ActorId::from(b"phone-b".as_slice()));
        let meeting = |d: &AutoCommit| match d.get(ROOT, "meetings").expect("get") {
            Some((_, meetings)) => d.get(&meetings, "a").expect("get").expect("a").1,
            None => panic!("no meetings"),
        };
        let (ma, mb) = (meeting(&a), meeting(&b));
        a.put(&ma, "topic", "学习党章").expect("put");
        b.put(&mb, "topic", "学习党史").expect("put");
        // The same value on both: no conflict.
        a.put(&ma, "place", "村委会").expect("put");
        b.put(&mb, "place", "村委会").expect("put");
        let att = a.get(&ma, "attendance").expect("get").expect("attendance").1;
        let entry = a.put_object(&att, "m2", ObjType::Map).expect("put");
        a.put(&entry, "status", "present").expect("put");
        let att = b.get(&mb, "attendance").expect("get").expect("attendance").1;
        let entry = b.put_object(&att, "m2", ObjType::Map).expect("put");
        b.put(&entry, "status", "absent").expect("put");
        let hash_b = b.commit().expect("commit");
        a.commit();
        a.merge(&mut b).expect("merge");
        let found = conflicts(a.document(), "meetings", "a");
        let paths: Vec<String> = found.iter().map(|c| c.path.join("/")).collect();
        assert_eq!(paths, ["attendance/m2", "topic"], "{found:?}");
        let topic = &found[1];
        assert!(topic.values[0].shown && !topic.values[1].shown);
        let texts: Vec<&str> = topic.values.iter().map(|v| v.fields[0].1.as_str()).collect();
        assert!(texts.contains(&"学习党章") && texts.contains(&"学习党史"), "{texts:?}");
        let by_b = topic.values.iter().find(|v| v.fields[0].1 == "学习党史").expect("b's");
        assert_eq!(by_b.hash, Some(hash_b));
        let entry = &found[0].values;
        assert!(entry.iter().any(|v| v.fields == [(vec!["status".to_owned()], "absent".to_owned())]), "{entry:?}");
    }

    #[test]
    fn only_the_changes_that_touched_the_record_are_listed_with_what_they_wrote() {
        let (doc, created, _other, edited) = doc_with_two_meetings();
        let t = touches(&doc, "meetings", "a");
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].hash, created);
        assert!(t[0].created);
        assert!(t[0].writes.contains(&(vec!["topic".into()], Some("学习".into()))), "{:?}", t[0].writes);
        assert_eq!(t[1].hash, edited);
        assert!(!t[1].created);
        assert_eq!(
            t[1].writes,
            vec![(vec!["attendance".into(), "m1".into(), "status".into()], Some("present".into()))]
        );
        assert_eq!(touches(&doc, "meetings", "b").len(), 1);
        assert!(touches(&doc, "meetings", "nope").is_empty());
        assert!(touches(&doc, "cases", "a").is_empty());
    }
}
