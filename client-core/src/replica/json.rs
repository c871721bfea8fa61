//! Automerge values as JSON, and the difference between two JSON trees as the writes that turn
//! one into the other.

use automerge::ScalarValue;
use automerge::hydrate::Value as Hydrated;
use serde_json::Value as Json;

/// A scalar as JSON.
pub(crate) fn scalar_json(s: &ScalarValue) -> Json {
    match s {
        ScalarValue::Str(s) => s.to_string().into(),
        ScalarValue::Int(i) => (*i).into(),
        ScalarValue::Uint(u) => (*u).into(),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Into::into),
        ScalarValue::Boolean(b) => (*b).into(),
        ScalarValue::Timestamp(t) => (*t).into(),
        ScalarValue::Null => Json::Null,
        other => other.to_string().into(),
    }
}

/// A hydrated value as JSON; Automerge text becomes a string.
pub(crate) fn hydrated_json(v: &Hydrated) -> Json {
    match v {
        Hydrated::Scalar(s) => scalar_json(s),
        Hydrated::Text(t) => t.to_string().into(),
        Hydrated::Map(m) => {
            m.iter().map(|(k, v)| (k.clone(), hydrated_json(&v.value))).collect::<serde_json::Map<_, _>>().into()
        }
        Hydrated::List(l) => l.iter().map(|v| hydrated_json(&v.value)).collect::<Vec<_>>().into(),
    }
}

/// The writes that turn `before` into `after`: each a path of map keys and the new value
/// (`Json::Null` to delete). A map that changed is descended into, so only what changed is
/// written.
pub(crate) fn writes(before: &Json, after: &Json) -> Vec<(Vec<String>, Json)> {
    let mut out = Vec::new();
    diff(before, after, &mut Vec::new(), &mut out);
    out
}

fn diff(before: &Json, after: &Json, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Json)>) {
    match (before, after) {
        (Json::Object(b), Json::Object(a)) => {
            for (key, new) in a {
                path.push(key.clone());
                match b.get(key) {
                    Some(old) => diff(old, new, path, out),
                    None => out.push((path.clone(), new.clone())),
                }
                path.pop();
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                path.push(key.clone());
                out.push((path.clone(), Json::Null));
                path.pop();
            }
        }
        _ if before != after => out.push((path.clone(), after.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_changed_is_written() {
        let before =
            json!({"meetings": {"a": {"topic": "x", "place": "p", "attendance": {"m1": {"status": "present"}}}}});
        let after = json!({"meetings": {"a": {"topic": "y", "attendance": {"m1": {"status": "present"}, "m2": {"status": "absent"}}}}});
        let mut w = writes(&before, &after);
        w.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            w,
            vec![
                (vec!["meetings".into(), "a".into(), "attendance".into(), "m2".into()], json!({"status": "absent"})),
                (vec!["meetings".into(), "a".into(), "place".into()], Json::Null),
                (vec!["meetings".into(), "a".into(), "topic".into()], json!("y")),
            ]
        );
        assert!(writes(&after, &after).is_empty());
    }
}
