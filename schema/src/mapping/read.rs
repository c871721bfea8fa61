//! Reading a village-year document into typed records. Every record that cannot be read is
//! left out and reported as a violation, so one bad record never hides the rest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use automerge::hydrate::{Map, Value};
use automerge::{Patch, PatchAction, Prop, ROOT, ReadDoc, TextEncoding};

use super::fields::Fields;
use crate::{
    AccountId, Attendance, AttendanceStatus, Case, Code, Collection, Date, Line, Meeting, MeetingKind, Member,
    MemberId, MemberStatus, Name, Notice, PointDelta, PointEntry, Prose, RecordId, Rule, SCHEMA_VERSION, Step,
    VillageId, VillageYear, Violation, Voided, Year,
};

/// A document read into records, with the problems of the records that were left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Hydrated {
    pub doc: VillageYear,
    pub problems: Vec<Violation>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("无法读取文档：{0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("{0}")]
    Header(Violation),
}

fn header_problem(field: &str, message: String) -> ReadError {
    ReadError::Header(Violation::new(Collection::Document, "", field, Rule::Header, message))
}

/// Reads the whole document at its current heads.
pub fn read(doc: &impl ReadDoc) -> Result<Hydrated, ReadError> {
    let Value::Map(root) = super::hydrate::hydrate(doc, &ROOT, automerge::ObjType::Map)? else {
        return Err(header_problem("", "文档根节点不是键值表".to_owned()));
    };
    read_root(&root)
}

pub(crate) fn read_root(root: &Map) -> Result<Hydrated, ReadError> {
    let mut header = Vec::new();
    let mut f = Fields::new(root, Collection::Document, "", String::new(), &mut header);
    let version = f.int("schema_version");
    let village = f.req("village_id", VillageId::parse);
    let year = f.int("year").and_then(|y| Year::new(y).ok());
    let (Some(version), Some(village), Some(year)) = (version, village, year) else {
        return Err(header.into_iter().next().map_or_else(
            || header_problem("year", "年份应在 2000 到 2100 之间".to_owned()),
            |v| ReadError::Header(Violation { rule: Rule::Header, ..v }),
        ));
    };
    if version != SCHEMA_VERSION {
        return Err(header_problem(
            "schema_version",
            format!("文档版本 {version} 不受支持（本程序只认版本 {SCHEMA_VERSION}），请升级程序"),
        ));
    }

    let mut problems = Vec::new();
    let mut doc = VillageYear::new(village, year);
    doc.members = collection(root, Collection::Members, MemberId::parse, read_member, &mut problems);
    doc.meetings = collection(root, Collection::Meetings, RecordId::parse, read_meeting, &mut problems);
    doc.points = collection(root, Collection::Points, RecordId::parse, read_point, &mut problems);
    doc.cases = collection(root, Collection::Cases, RecordId::parse, read_case, &mut problems);
    Ok(Hydrated { doc, problems })
}

/// A collection's records, each kept as `V`: the record itself, or shared behind an `Arc`.
fn collection<K: Ord, T, V: From<T>, E: std::fmt::Display>(
    root: &Map,
    which: Collection,
    parse_id: impl Fn(&str) -> Result<K, E>,
    read_one: impl Fn(&mut Fields<'_>) -> Option<T>,
    problems: &mut Vec<Violation>,
) -> BTreeMap<K, V> {
    let mut out = BTreeMap::new();
    let records = match root.get(which.key()) {
        None => return out,
        Some(Value::Map(m)) => m,
        Some(_) => {
            problems.push(Violation::new(Collection::Document, "", which.key(), Rule::BadValue, "应为键值表"));
            return out;
        }
    };
    for (key, value) in records.iter() {
        if let Some((id, record)) = entry(which, key, &value.value, &parse_id, &read_one, problems) {
            out.insert(id, V::from(record));
        }
    }
    out
}

/// One record of a collection, or None with its problems.
fn entry<K, T, E: std::fmt::Display>(
    which: Collection,
    key: &str,
    value: &Value,
    parse_id: &impl Fn(&str) -> Result<K, E>,
    read_one: &impl Fn(&mut Fields<'_>) -> Option<T>,
    problems: &mut Vec<Violation>,
) -> Option<(K, T)> {
    let id = match parse_id(key) {
        Ok(id) => id,
        Err(e) => {
            problems.push(Violation::new(which, key, "", Rule::BadId, e.to_string()));
            return None;
        }
    };
    let Value::Map(map) = value else {
        problems.push(Violation::new(which, key, "", Rule::BadValue, "记录应为键值表"));
        return None;
    };
    let mut f = Fields::new(map, which, key, String::new(), problems);
    let record = read_one(&mut f);
    if f.ok { record.map(|r| (id, r)) } else { None }
}

/// Which records some changes touched: possibly all (the header or a whole collection
/// changed), or only these, by collection and key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Touched {
    #[default]
    All,
    Records(BTreeSet<(Collection, String)>),
}

/// The records that patches (from applying changes to a document) touched.
pub fn touched_by(patches: &[Patch]) -> Touched {
    let mut out = BTreeSet::new();
    for p in patches {
        let Some((_, Prop::Map(top))) = p.path.first() else {
            // The root itself: the header or a whole collection.
            return Touched::All;
        };
        // Keys the reader does not know are not read either.
        let Some(which) = collection_of(top) else { continue };
        let record = match (p.path.get(1), &p.action) {
            (Some((_, Prop::Map(id))), _) => id.clone(),
            (None, PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key }) => key.clone(),
            (None, PatchAction::Conflict { prop: Prop::Map(key) }) => key.clone(),
            _ => return Touched::All,
        };
        out.insert((which, record));
    }
    Touched::Records(out)
}

/// The collection a root key names, if any.
pub(crate) fn collection_of(key: &str) -> Option<Collection> {
    [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases]
        .into_iter()
        .find(|c| c.key() == key)
}

/// Whether the document `before` was read from held the key `key` in the collection `which`:
/// reading gives every key a collection holds either a record or a problem (a collection that
/// is not a map, a problem of the document).
fn held(before: &Hydrated, which: Collection, key: &str) -> bool {
    which == Collection::Document
        || before.doc.voided(which, key).is_some()
        || before.problems.iter().any(|p| {
            (p.collection == which && p.record == key)
                || (p.collection == Collection::Document && p.field == which.key())
        })
}

/// Reads `doc` again after changes were applied to the document `before` was read from, with
/// `patches` the patches of applying them: the same [`Hydrated`] as [`read`] gives, reading
/// only the records the patches touched, and those records. A record the changes created (a
/// key `before` did not hold, made by one put) is made from the patches alone; one that existed
/// is read from `doc`. Falls back to [`read`] when everything may have changed.
pub fn reread(
    doc: &impl ReadDoc,
    before: &Hydrated,
    patches: Vec<Patch>,
    text_encoding: TextEncoding,
) -> Result<(Hydrated, Touched), ReadError> {
    let touched = touched_by(&patches);
    let Touched::Records(records) = &touched else { return Ok((read(doc)?, touched)) };
    // Records new to the document, made once by one put: built from their patches.
    let mut fresh: BTreeMap<(Collection, String), Option<Value>> = BTreeMap::new();
    let mut puts: BTreeMap<(Collection, &str), usize> = BTreeMap::new();
    for p in &patches {
        if let ([(_, Prop::Map(top))], PatchAction::PutMap { key, conflict, .. }) = (p.path.as_slice(), &p.action)
            && let Some(which) = collection_of(top)
        {
            *puts.entry((which, key.as_str())).or_default() += if *conflict { 2 } else { 1 };
        }
    }
    for ((which, key), n) in &puts {
        if *n == 1 && !held(before, *which, key) {
            fresh.insert((*which, (*key).to_owned()), None);
        }
    }
    if !fresh.is_empty() {
        let mut collections = std::collections::HashMap::new();
        for c in [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases] {
            collections.insert(c.key().to_owned(), Value::map());
        }
        let mut root = Value::from(Map::from(collections));
        let wanted: HashSet<(Collection, &str)> = fresh.keys().map(|(c, key)| (*c, key.as_str())).collect();
        let mine = patches.into_iter().filter(|p| {
            let record = match (p.path.first(), p.path.get(1), &p.action) {
                (Some((_, Prop::Map(top))), Some((_, Prop::Map(id))), _) => Some((top, id)),
                (Some((_, Prop::Map(top))), None, PatchAction::PutMap { key, .. }) => Some((top, key)),
                _ => None,
            };
            record.is_some_and(|(top, id)| collection_of(top).is_some_and(|c| wanted.contains(&(c, id.as_str()))))
        });
        if root.apply_patches(text_encoding, mine).is_err() {
            fresh.clear();
        } else if let Value::Map(root) = &mut root {
            for ((which, key), v) in &mut fresh {
                match root.get_mut(which.key()) {
                    // Taken out of the map made for them, not copied.
                    Some(Value::Map(m)) => {
                        *v = m
                            .get_mut(key)
                            .map(|made| std::mem::replace(made, Value::Scalar(automerge::ScalarValue::Null)))
                    }
                    _ => unreachable!("made as maps above"),
                }
            }
        }
    }
    let mut out = before.clone();
    for (which, key) in records {
        out.problems.retain(|p| !(p.collection == *which && p.record == *key));
        let value = match fresh.remove(&(*which, key.clone())) {
            Some(made) => made,
            None => {
                let collection = match doc.get(ROOT, which.key())? {
                    Some((automerge::Value::Object(automerge::ObjType::Map), id)) => id,
                    // The collection itself changed: only a whole read says how.
                    _ => return Ok((read(doc)?, Touched::All)),
                };
                match doc.get(&collection, key.as_str())? {
                    None => None,
                    Some((automerge::Value::Object(typ), id)) => Some(super::hydrate::hydrate(doc, &id, typ)?),
                    Some((automerge::Value::Scalar(s), _)) => Some(Value::Scalar(s.into_owned())),
                }
            }
        };
        let problems = &mut out.problems;
        let d = &mut out.doc;
        match which {
            Collection::Members => {
                reread_one(&mut d.members, *which, key, value, MemberId::parse, read_member, problems)
            }
            Collection::Meetings => {
                reread_one(&mut d.meetings, *which, key, value, RecordId::parse, read_meeting, problems)
            }
            Collection::Points => reread_one(&mut d.points, *which, key, value, RecordId::parse, read_point, problems),
            Collection::Cases => reread_one(&mut d.cases, *which, key, value, RecordId::parse, read_case, problems),
            Collection::Document => return Ok((read(doc)?, Touched::All)),
        }
    }
    Ok((out, touched))
}

fn reread_one<K: Ord, T, V: From<T>, E: std::fmt::Display>(
    records: &mut BTreeMap<K, V>,
    which: Collection,
    key: &str,
    value: Option<Value>,
    parse_id: impl Fn(&str) -> Result<K, E>,
    read_one: impl Fn(&mut Fields<'_>) -> Option<T>,
    problems: &mut Vec<Violation>,
) {
    if let Ok(id) = parse_id(key) {
        records.remove(&id);
    }
    if let Some(value) = value
        && let Some((id, record)) = entry(which, key, &value, &parse_id, &read_one, problems)
    {
        records.insert(id, V::from(record));
    }
}

fn enum_code<T>(from: impl Fn(&str) -> Option<T>, allowed: &'static str) -> impl Fn(&str) -> Result<T, String> {
    move |s| from(s).ok_or_else(|| format!("「{s}」不是有效的取值，应为 {allowed} 之一"))
}

fn voided(f: &mut Fields<'_>) -> Option<Option<Voided>> {
    match f.map("voided")? {
        None => Some(None),
        Some(m) => f
            .nested("voided", m, |v| {
                Some(Voided { reason: v.req("reason", Prose::parse)?, by: v.req("by", AccountId::parse)? })
            })
            .map(Some),
    }
}

fn read_member(f: &mut Fields<'_>) -> Option<Member> {
    let name = f.req("name", Name::parse);
    let group = f.opt("group", Name::parse);
    let status = f.req("status", enum_code(MemberStatus::from_code, "full、probationary"));
    let committee = f.bool_or_false("committee");
    let joined_on = f.opt("joined_on", Date::parse);
    let left_on = f.opt("left_on", Date::parse);
    let full_on = f.opt("full_on", Date::parse);
    let arrived_on = f.opt("arrived_on", Date::parse);
    Some(Member {
        name: name?,
        group: group?,
        status: status?,
        committee: committee?,
        joined_on: joined_on?,
        left_on: left_on?,
        full_on: full_on?,
        arrived_on: arrived_on?,
    })
}

fn read_attendance(f: &mut Fields<'_>) -> Option<Attendance> {
    let status = f.req("status", enum_code(AttendanceStatus::from_code, "present、leave、absent"));
    let reason = f.opt("reason", Prose::parse);
    let approved_by = f.opt("approved_by", Name::parse);
    let makeup_on = f.opt("makeup_on", Date::parse);
    Some(Attendance { status: status?, reason: reason?, approved_by: approved_by?, makeup_on: makeup_on? })
}

fn read_meeting(f: &mut Fields<'_>) -> Option<Meeting> {
    let kind = f.req(
        "kind",
        enum_code(
            MeetingKind::from_code,
            "branch_assembly、branch_committee、group_meeting、party_lesson、theme_day、org_life_meeting",
        ),
    );
    let held_on = f.req("held_on", Date::parse);
    let topic = f.req("topic", Line::parse);
    let place = f.opt("place", Name::parse);
    let host = f.opt("host", Name::parse);
    let recorder = f.opt("recorder", Name::parse);
    let group = f.opt("group", Name::parse);
    let resolutions = f.opt("resolutions", Prose::parse);
    let mut attendance = BTreeMap::new();
    if let Some(Some(entries)) = f.map("attendance") {
        for (key, value) in entries.iter() {
            let field = format!("attendance.{key}");
            let Ok(member) = MemberId::parse(key) else {
                f.problem(&field, Rule::BadId, format!("党员编号「{key}」不合规"));
                continue;
            };
            let Value::Map(m) = &value.value else {
                f.problem(&field, Rule::BadValue, "应为键值表".to_owned());
                continue;
            };
            if let Some(a) = f.nested(&field, m, read_attendance) {
                attendance.insert(member, a);
            }
        }
    }
    let voided = voided(f);
    Some(Meeting {
        kind: kind?,
        held_on: held_on?,
        topic: topic?,
        place: place?,
        host: host?,
        recorder: recorder?,
        group: group?,
        resolutions: resolutions?,
        attendance,
        voided: voided?,
    })
}

fn read_point(f: &mut Fields<'_>) -> Option<PointEntry> {
    let member_id = f.req("member_id", MemberId::parse);
    let rule = f.req("rule", Code::parse);
    let delta = f.int("delta").and_then(|d| match PointDelta::new(d) {
        Ok(d) => Some(d),
        Err(e) => {
            f.problem("delta", Rule::BadValue, e.to_string());
            None
        }
    });
    let on = f.req("on", Date::parse);
    let note = f.opt("note", Prose::parse);
    let by = f.req("by", AccountId::parse);
    let voided = voided(f);
    Some(PointEntry {
        member_id: member_id?,
        rule: rule?,
        delta: delta?,
        on: on?,
        note: note?,
        by: by?,
        voided: voided?,
    })
}

fn read_case(f: &mut Fields<'_>) -> Option<Case> {
    let item = f.req("item", Code::parse);
    let title = f.req("title", Line::parse);
    let opened_on = f.req("opened_on", Date::parse);
    let applicant = f.opt("applicant", Name::parse);
    let mut steps = BTreeMap::new();
    if let Some(Some(entries)) = f.map("steps") {
        for (key, value) in entries.iter() {
            let field = format!("steps.{key}");
            let Ok(code) = Code::parse(key) else {
                f.problem(&field, Rule::BadId, format!("步骤代码「{key}」不合规"));
                continue;
            };
            let Value::Map(m) = &value.value else {
                f.problem(&field, Rule::BadValue, "应为键值表".to_owned());
                continue;
            };
            let step = f.nested(&field, m, |s| {
                let done_on = s.req("done_on", Date::parse);
                let by = s.req("by", AccountId::parse);
                let note = s.opt("note", Prose::parse);
                let until = s.opt("until", Date::parse);
                let place = s.opt("place", Name::parse);
                let meeting = s.opt("meeting", RecordId::parse);
                Some(Step { done_on: done_on?, by: by?, note: note?, until: until?, place: place?, meeting: meeting? })
            });
            if let Some(step) = step {
                steps.insert(code, step);
            }
        }
    }
    let notice = match f.map("notice") {
        None => None,
        Some(None) => Some(None),
        Some(Some(m)) => f
            .nested("notice", m, |n| {
                let from = n.req("from", Date::parse);
                let to = n.req("to", Date::parse);
                let place = n.opt("place", Name::parse);
                Some(Notice { from: from?, to: to?, place: place? })
            })
            .map(Some),
    };
    let outcome = f.opt("outcome", Prose::parse);
    let closed_on = f.opt("closed_on", Date::parse);
    let voided = voided(f);
    Some(Case {
        item: item?,
        title: title?,
        opened_on: opened_on?,
        applicant: applicant?,
        steps,
        notice: notice?,
        outcome: outcome?,
        closed_on: closed_on?,
        voided: voided?,
    })
}

/// The string at `key` of the map `obj` of `doc`, written as a string scalar or as Automerge
/// text (API.md: readers accept both).
pub fn string_at(doc: &impl ReadDoc, obj: &automerge::ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key).ok()?? {
        (automerge::Value::Scalar(s), _) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        (automerge::Value::Object(automerge::ObjType::Text), id) => doc.text(&id).ok(),
        _ => None,
    }
}
