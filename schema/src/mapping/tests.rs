use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue};

use super::*;
use crate::testutil::*;
use crate::{Collection, Rule};

#[test]
fn a_written_document_saves_loads_and_reads_back_equal() {
    let village = village();
    let am = automerge_of(&village);
    let loaded = Automerge::load(&am.save()).expect("loads in automerge");
    let back = read(&loaded).expect("reads");
    assert_eq!(back.problems, vec![]);
    assert_eq!(back.doc, village);
}

#[test]
fn the_layout_is_the_one_api_md_gives() {
    let am = automerge_of(&village());
    let get = |path: &[&str]| {
        let mut obj = ROOT;
        for key in &path[..path.len() - 1] {
            obj = am.get(&obj, *key).expect("get").expect(key).1;
        }
        am.get(&obj, *path.last().expect("key")).expect("get").map(|(v, _)| v.to_string())
    };
    assert_eq!(get(&["schema_version"]).as_deref(), Some("1"));
    assert_eq!(get(&["village_id"]).as_deref(), Some("\"v1\""));
    assert_eq!(get(&["year"]).as_deref(), Some("2026"));
    let m = rid(1).to_string();
    assert_eq!(get(&["meetings", &m, "kind"]).as_deref(), Some("\"branch_assembly\""));
    assert_eq!(get(&["meetings", &m, "held_on"]).as_deref(), Some("\"2026-03-10\""));
    assert_eq!(get(&["meetings", &m, "attendance", "v1-m09", "status"]).as_deref(), Some("\"leave\""));
    assert_eq!(get(&["meetings", &m, "attendance", "v1-m09", "approved_by"]).as_deref(), Some("\"王春生\""));
    assert_eq!(get(&["meetings", &m, "attendance", "v1-m10", "makeup_on"]).as_deref(), Some("\"2026-03-20\""));
    assert_eq!(get(&["meetings", &rid(2).to_string(), "voided", "reason"]).as_deref(), Some("\"重复录入\""));
    let p = rid(3).to_string();
    assert_eq!(get(&["points", &p, "delta"]).as_deref(), Some("3"));
    assert_eq!(get(&["points", &p, "rule"]).as_deref(), Some("\"volunteer\""));
    let c = rid(4).to_string();
    assert_eq!(get(&["cases", &c, "steps", "application", "done_on"]).as_deref(), Some("\"2026-02-01\""));
    assert_eq!(get(&["cases", &c, "notice", "to"]).as_deref(), Some("\"2026-02-12\""));
    assert_eq!(get(&["members", "v1-m01", "committee"]).as_deref(), Some("true"));
    assert_eq!(get(&["members", "v1-m08", "status"]).as_deref(), Some("\"probationary\""));
    // Absent optional fields are absent, not null.
    assert_eq!(get(&["meetings", &m, "recorder"]), None);
}

/// Writes every string as Automerge text and every number as an f64 or uint, the way
/// JavaScript Automerge writes a plain object.
fn put_js(tx: &mut impl Transactable, obj: &automerge::ObjId, key: &str, v: &serde_json::Value) {
    match v {
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => {
            let text = tx.put_object(obj, key, ObjType::Text).expect("text");
            tx.splice_text(&text, 0, 0, s).expect("splice");
        }
        serde_json::Value::Number(n) => {
            let i = n.as_i64().expect("int");
            let value = if i >= 0 { ScalarValue::Uint(i as u64) } else { ScalarValue::F64(i as f64) };
            tx.put(obj, key, value).expect("put");
        }
        serde_json::Value::Bool(b) => tx.put(obj, key, *b).expect("put"),
        serde_json::Value::Object(fields) => {
            let map = tx.put_object(obj, key, ObjType::Map).expect("map");
            for (k, v) in fields {
                put_js(tx, &map, k, v);
            }
        }
        serde_json::Value::Array(_) => unreachable!("no lists in the layout"),
    }
}

#[test]
fn a_document_written_as_javascript_writes_it_reads_the_same_records() {
    let village = village();
    let mut am = Automerge::new();
    am.transact::<_, _, automerge::AutomergeError>(|tx| {
        tx.put(ROOT, "schema_version", ScalarValue::F64(1.0))?;
        put_js(tx, &ROOT, "village_id", &serde_json::json!("v1"));
        tx.put(ROOT, "year", ScalarValue::Uint(2026))?;
        for (key, value) in [
            ("members", serde_json::to_value(&village.members)),
            ("meetings", serde_json::to_value(&village.meetings)),
            ("points", serde_json::to_value(&village.points)),
            ("cases", serde_json::to_value(&village.cases)),
        ] {
            put_js(tx, &ROOT, key, &value.expect("json"));
        }
        Ok(())
    })
    .expect("builds");
    let am = Automerge::load(&am.save()).expect("loads");
    let back = read(&am).expect("reads");
    assert_eq!(back.problems, vec![]);
    assert_eq!(back.doc, village);
}

#[test]
fn writing_over_text_with_the_same_value_writes_nothing() {
    let mut am = Automerge::new();
    am.transact::<_, _, automerge::AutomergeError>(|tx| {
        put_js(tx, &ROOT, "members", &serde_json::json!({"m1": {"name": "张三", "status": "full"}}));
        Ok(())
    })
    .expect("builds");
    let member = crate::Member::new(name("张三"), crate::MemberStatus::Full);
    let mut tx = am.transaction();
    put_record(&mut tx, Collection::Members, "m1", &member).expect("put");
    // Only `committee: false`, which JavaScript left out, is new.
    assert_eq!(tx.pending_ops(), 1);
}

#[test]
fn rewriting_an_unchanged_record_makes_no_operations() {
    let village = village();
    let mut am = automerge_of(&village);
    let mut tx = am.transaction();
    put_document(&mut tx, &village).expect("put");
    assert_eq!(tx.pending_ops(), 0);
}

#[test]
fn changing_one_field_writes_one_operation_and_clearing_deletes_it() {
    let mut village = village();
    let mut am = automerge_of(&village);
    let meeting = Arc::make_mut(village.meetings.get_mut(&rid(1)).expect("meeting"));
    meeting.place = Some(name("党员活动室"));
    let mut tx = am.transaction();
    put_record_id(&mut tx, Collection::Meetings, &rid(1), &*meeting).expect("put");
    assert_eq!(tx.pending_ops(), 1);
    tx.commit();
    meeting.host = None;
    let mut tx = am.transaction();
    put_record_id(&mut tx, Collection::Meetings, &rid(1), &*meeting).expect("put");
    assert_eq!(tx.pending_ops(), 1);
    tx.commit();
    assert_eq!(read(&am).expect("reads").doc, village);
}

#[test]
fn fields_unknown_to_this_version_survive_an_edit() {
    let mut village = village();
    let mut am = automerge_of(&village);
    let m = rid(1).to_string();
    am.transact::<_, _, WriteError>(|tx| put_at(tx, &["meetings", &m, "weather"], "晴")).expect("put");
    let meeting = Arc::make_mut(village.meetings.get_mut(&rid(1)).expect("meeting"));
    meeting.topic = line("新的议题");
    am.transact::<_, _, WriteError>(|tx| put_record_id(tx, Collection::Meetings, &rid(1), &*meeting)).expect("put");
    let obj = am.get(ROOT, "meetings").expect("g").expect("meetings").1;
    let obj = am.get(&obj, m.as_str()).expect("g").expect("meeting").1;
    assert!(am.get(&obj, "weather").expect("g").is_some());
    assert_eq!(read(&am).expect("reads").doc, village);
}

#[test]
fn genesis_is_the_same_change_on_every_phone() {
    let v = crate::VillageId::parse("v1").expect("id");
    let y = crate::Year::new(2026).expect("y");
    assert_eq!(genesis(&v, y).get_heads(), genesis(&v, y).get_heads());
    assert_ne!(genesis(&v, y).get_heads(), genesis(&v, crate::Year::new(2027).expect("y")).get_heads());
    let mut a = genesis(&v, y);
    let mut b = genesis(&v, y);
    a.set_actor(automerge::ActorId::random());
    b.set_actor(automerge::ActorId::random());
    let member = crate::Member::new(name("甲"), crate::MemberStatus::Full);
    a.transact::<_, _, WriteError>(|tx| put_record(tx, Collection::Members, "a", &member)).expect("a");
    b.transact::<_, _, WriteError>(|tx| put_record(tx, Collection::Members, "b", &member)).expect("b");
    a.merge(&mut b).expect("merge");
    assert_eq!(read(&a).expect("reads").doc.members.len(), 2, "both phones' members survive the merge");
}

#[test]
fn an_empty_document_has_no_header() {
    let err = read(&Automerge::new()).expect_err("no header");
    assert!(matches!(err, ReadError::Header(ref v) if v.rule == Rule::Header), "{err:?}");
    assert!(err.to_string().contains("缺少此项"), "{err}");
}

#[test]
fn a_newer_layout_version_is_refused_with_advice() {
    let mut am = genesis(&crate::VillageId::parse("v1").expect("id"), crate::Year::new(2026).expect("y"));
    am.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "schema_version", 2_i64)).expect("put");
    let err = read(&am).expect_err("version");
    assert!(err.to_string().contains("请升级程序"), "{err}");
}

#[test]
fn a_bad_record_is_reported_and_the_others_are_kept() {
    let village = village();
    let mut am = automerge_of(&village);
    let m = rid(1).to_string();
    am.transact::<_, _, WriteError>(|tx| {
        put_at(tx, &["meetings", &m, "held_on"], "2026-13-01")?;
        put_at(tx, &["meetings", &m, "attendance", "v1-m01", "status"], "late")?;
        put_at(tx, &["points", "not-a-uuid"], &serde_json::json!({"member_id": "v1-m01"}))?;
        put_at(tx, &["cases", &rid(4).to_string(), "title"], "")
    })
    .expect("put");
    let back = read(&am).expect("reads");
    let found: Vec<_> = back.problems.iter().map(|v| (v.collection, v.field.as_str(), v.rule)).collect();
    assert_eq!(
        found,
        [
            (Collection::Meetings, "held_on", Rule::BadValue),
            (Collection::Meetings, "attendance.v1-m01.status", Rule::BadValue),
            (Collection::Points, "", Rule::BadId),
            (Collection::Cases, "title", Rule::BadValue),
        ]
    );
    assert!(back.problems[0].message.contains("2026-13-01"), "{}", back.problems[0]);
    assert!(back.problems[1].message.contains("「late」不是有效的取值"), "{}", back.problems[1]);
    assert!(!back.doc.meetings.contains_key(&rid(1)));
    assert!(!back.doc.cases.contains_key(&rid(4)));
    assert_eq!(back.doc.members, village.members);
    assert_eq!(back.doc.points, village.points);
}
