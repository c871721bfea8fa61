//! Who made each entry. A record's `by` names the account that made the entry (API.md), and
//! the server never trusts a phone: every `by` that new changes write must name the account that
//! pushed them, or one cadre's phone could put another cadre's name on its point entries, case
//! steps and voids.
//!
//! What the changes write is checked, operation by operation, not what the document shows
//! after them: a name written as the losing side of a conflict (under a void that a concurrent
//! `null` hides, say) shows nowhere today, but a later push that deletes the winner brings it to
//! light, with no new operation of its own to check then. So each new change is expanded into
//! its operations, and every string it puts under a map key `by`, and every text at such a key
//! that it makes or edits, must read as the account that pushed the change. What another
//! account's point entry, step or void says is that account's: neither a key of it nor a text
//! in it (a JavaScript client writes every string as text) may be written by another. Pushes of several
//! accounts admitted together (`zhibu_server::together`) are told apart, each change with its
//! own account.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Automerge, Change, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue};

use crate::mapping::{GENESIS_PREFIX, collection_of, string_at};
use crate::{Collection, Rule, Violation};

/// The map key that names who made an entry.
const BY: &str = "by";

/// At most this many violations are reported: one crafted change can hold 200,000 operations.
const MOST: usize = 50;

/// Where the new `changes` (each with the account that pushed it) write, under a key `by` of
/// `next` (the document with them applied), a name other than their account's; or change what
/// another account's point entry, step or void says (its `by` would vouch for words that are
/// not its own); or write into an object with the wrong kind of key; or write the root's keys,
/// which are the genesis change's.
///
/// Who made an entry is read in `base`, the document before the changes (the server's, not one
/// a change names as its dependencies, which the phone chooses): an entry's maker never
/// changes, so no change may write, delete or replace another's `by`, or replace or delete a
/// map that holds another's entry.
pub fn forged<'c, 'a>(
    base: &Automerge,
    next: &Automerge,
    changes: impl IntoIterator<Item = (&'c Change, &'a str)>,
) -> Vec<Violation> {
    let mut out = BTreeSet::new();
    // Texts the changes make at a key `by`, and texts they edit: by object, the accounts that
    // made or edited them.
    // Edits and writes keep the index of their change: an entry that another account's
    // concurrent change took over is still the writer's if it was theirs where the change
    // was made (the document at the change's dependencies).
    let mut made: HashMap<ObjectId, BTreeSet<&'a str>> = HashMap::new();
    let mut edited: HashMap<ObjectId, BTreeSet<(&'a str, usize)>> = HashMap::new();
    // Objects they make (a JavaScript client writes every string as text), and the maps made
    // before that they write into by key, with who writes which key.
    let mut fresh: HashSet<ObjectId> = HashSet::new();
    let mut written: HashMap<ObjectId, BTreeSet<(&'a str, String, usize)>> = HashMap::new();
    let mut deps: Vec<Vec<ChangeHash>> = Vec::new();
    // Entries made before whose `by` a change writes, deletes or edits, with the change's
    // account: only an entry that was already the account's may be (an entry's maker never
    // changes, or one cadre could take another's deduction over and move it).
    let mut signed: HashSet<(ObjectId, &'a str)> = HashSet::new();
    // What a change writes over at a key of a map made before (the map, the key, each operation
    // its write supersedes), with the change's account and whether it makes a map there: an
    // entry of another account's may not be replaced or deleted, save a case step made anew.
    let mut superseded: Vec<(ObjectId, String, OpId, &'a str, bool)> = Vec::new();
    // The collections' maps, named as operations name them, and the records the changes make
    // in them: the collection, its map, the key and the record's map.
    let collections: Vec<(ObjectId, ObjId, Collection)> =
        [Collection::Members, Collection::Meetings, Collection::Points, Collection::Cases]
            .into_iter()
            .filter_map(|c| match next.get(automerge::ROOT, c.key()) {
                Ok(Some((automerge::Value::Object(ObjType::Map), id))) => Some((legacy(&id)?, id, c)),
                _ => None,
            })
            .collect();
    let mut records: Vec<(Collection, ObjId, String, ObjectId)> = Vec::new();
    for (index, (change, account)) in changes.into_iter().enumerate() {
        deps.push(change.deps().to_vec());
        // The root's keys (the header and the four collections) are the genesis change's
        // alone: a change that makes its own `points` map, say, would put everyone's records
        // behind whichever map wins the conflict. Admission has checked that a change of the
        // genesis actor is the genesis itself.
        let genesis = change.actor_id().to_bytes().starts_with(GENESIS_PREFIX.as_bytes());
        let expanded = change.decode();
        let id_of = |i: usize| ObjectId::Id(OpId(expanded.start_op.get() + i as u64, expanded.actor_id.clone()));
        for (i, op) in expanded.operations.iter().enumerate() {
            if out.len() >= MOST {
                break;
            }
            if let (ObjectId::Root, Key::Map(key), false) = (&op.obj, &op.key, genesis) {
                let message = format!("文档根上的「{}」由文档的起始修改（genesis）写定，不能再写或删除", short(key));
                out.insert(Violation::new(Collection::Document, "", short(key), Rule::Header, message));
                continue;
            }
            if let Key::Map(key) = &op.key
                && !fresh.contains(&op.obj)
            {
                if key == BY {
                    signed.insert((op.obj.clone(), account));
                } else {
                    let makes_map = op.action == OpType::Make(ObjType::Map);
                    superseded.extend(
                        op.pred.iter().map(|pred| (op.obj.clone(), key.to_string(), pred.clone(), account, makes_map)),
                    );
                }
            }
            match (&op.key, &op.action) {
                (Key::Map(key), OpType::Put(ScalarValue::Str(name))) if key == BY && name != account => {
                    out.insert(located(next, &object(&op.obj), claimed(account, name)));
                }
                (Key::Map(key), OpType::Make(kind)) => {
                    if key == BY && *kind == ObjType::Text {
                        made.entry(id_of(i)).or_default().insert(account);
                    }
                    // Only a map made right in a collection is a record (most maps made are
                    // inside one: attendance, steps), so its name is only then spelt out.
                    if *kind == ObjType::Map
                        && !genesis
                        && let Some((_, id, c)) = collections.iter().find(|(named, _, _)| *named == op.obj)
                    {
                        records.push((*c, id.clone(), key.to_string(), id_of(i)));
                    }
                    fresh.insert(id_of(i));
                }
                (Key::Seq(_), OpType::Make(_)) => {
                    fresh.insert(id_of(i));
                }
                _ => {}
            }
            match &op.key {
                // Texts made here at other keys need no lookup (a JavaScript client writes every
                // string as text), nor maps made here: whatever they hold is new.
                Key::Seq(_) if !fresh.contains(&op.obj) || made.contains_key(&op.obj) => {
                    edited.entry(op.obj.clone()).or_default().insert((account, index));
                }
                Key::Map(key) if !fresh.contains(&op.obj) => {
                    written.entry(op.obj.clone()).or_default().insert((account, key.to_string(), index));
                }
                _ => {}
            }
        }
    }
    // A record made under a key the collection holds another record at (made concurrently
    // elsewhere): Automerge keeps both and shows one, so every field of the other would vanish.
    // The first one stored stays; the other is refused, and its phone's rebuild writes its
    // edits into the record that stayed.
    for (collection, obj, key, record) in records {
        if out.len() >= MOST {
            break;
        }
        let Ok(all) = next.get_all(&obj, key.as_str()) else { continue };
        let ours = next.import_obj(&object(&record)).ok();
        if all.len() > 1 && all.iter().any(|(_, id)| Some(id) == ours.as_ref()) {
            let what = match collection {
                Collection::Members => format!("党员编号「{key}」已在名册上（乡镇可能已导入名册，或另一部手机已添加）"),
                _ => format!("{}「{key}」已存在", collection.label()),
            };
            let message = format!("{what}，这里又新建了一份，会互相遮盖：请先同步取回现有记录，再修改");
            out.insert(Violation::new(collection, key.as_str(), "", Rule::Duplicate, message));
        }
    }
    // Maps made before: whose `by` they hold, if any.
    for (obj, writes) in written.into_iter().filter(|(obj, _)| *obj != ObjectId::Root) {
        if out.len() >= MOST {
            break;
        }
        let Ok(id) = next.import_obj(&object(&obj)) else {
            out.insert(unknown(&object(&obj)));
            continue;
        };
        if next.object_type(&id).ok() != Some(ObjType::Map) {
            let message = "文本或列表中不能按键写入".to_owned();
            out.insert(Violation::new(Collection::Document, "", "", Rule::BadValue, message));
            continue;
        }
        if !holds_by(next, &id) {
            continue;
        }
        let owner = string_at(next, &id, BY);
        // Any cadre may void an entry (the void is a map of its own, with its own `by`); the
        // `by` itself is the name rule's.
        // Looked up once per change and account: a crafted change can write thousands of keys.
        let mut owned: HashMap<(&str, usize), bool> = HashMap::new();
        let foreign = writes.into_iter().filter(|(account, key, index)| {
            key != "voided"
                && key != BY
                && owner.as_deref() != Some(account)
                && !*owned
                    .entry((*account, *index))
                    .or_insert_with(|| owned_when_made(next, &id, account, &deps[*index]))
        });
        for (account, key, _) in foreign {
            if out.len() >= MOST {
                break;
            }
            out.insert(located_at(next, &id, &key, not_yours(owner.as_deref(), account)));
        }
    }
    // An entry's `by` written, deleted or edited again: the entry must be the writer's (or have
    // had no maker) before these changes.
    for (obj, account) in signed {
        if out.len() >= MOST {
            break;
        }
        let Ok(id) = next.import_obj(&object(&obj)) else {
            out.insert(unknown(&object(&obj)));
            continue;
        };
        if let Some(maker) = base.import_obj(&object(&obj)).ok().and_then(|was| foreign_maker(base, &was, account)) {
            out.insert(located_at(next, &id, BY, taken_over(&maker, account)));
        }
    }
    // Another account's entry written over at its key: replaced by a map made anew (a case step
    // recorded again is the new recorder's word; no other entry may be), or deleted.
    let mut said: HashSet<(ObjectId, String)> = HashSet::new();
    for (holder, key, pred, account, makes_map) in superseded {
        if out.len() >= MOST {
            break;
        }
        if said.contains(&(holder.clone(), key.clone())) {
            continue;
        }
        // What it replaces, as the document had it before: an entry of another's, or a map
        // holding one (a case's steps, a record and its void).
        let Ok(was) = base.import_obj(&object(&ObjectId::Id(pred))) else { continue };
        let Some(maker) = foreign_maker_within(base, &was, account, 3) else { continue };
        let Ok(id) = next.import_obj(&object(&holder)) else { continue };
        let in_steps = next
            .parents(&id)
            .ok()
            .and_then(|mut p| p.next())
            .is_some_and(|p| matches!(&p.prop, Prop::Map(k) if k == "steps"));
        if !(makes_map && in_steps) {
            out.insert(located_at(next, &id, &key, replaced(&maker, account)));
            said.insert((holder, key));
        }
    }
    for (text, accounts) in edited {
        // A text made here at a key `by` is the name rule's; one made before is that rule's when
        // it sits at such a key, and otherwise a field (a JavaScript client writes every string
        // as text) of whichever point entry, step or void holds it, if any.
        if made.contains_key(&text) {
            made.entry(text).or_default().extend(accounts.into_iter().map(|(account, _)| account));
            continue;
        }
        let Ok(id) = next.import_obj(&object(&text)) else {
            out.insert(unknown(&object(&text)));
            continue;
        };
        let Ok(parents) = next.parents(&id) else { continue };
        for (depth, parent) in parents.enumerate() {
            // The key of the text, or of what holds it, in `parent.obj`.
            let key = match parent.prop {
                Prop::Map(key) => key,
                Prop::Seq(i) => i.to_string(),
            };
            if depth == 0 && key == BY {
                // Edited in place into the writer's name: the entry must have been theirs (into
                // another name, it is the name rule's, below).
                let name = next.text(&id).unwrap_or_default();
                for (account, _) in accounts.iter().filter(|(account, _)| *account == name) {
                    let was = base.import_obj(&parent.obj.to_string()).ok();
                    if let Some(maker) = was.and_then(|was| foreign_maker(base, &was, account)) {
                        out.insert(located_at(next, &parent.obj, BY, taken_over(&maker, account)));
                    }
                }
                made.entry(text).or_default().extend(accounts.into_iter().map(|(account, _)| account));
                break;
            }
            if next.object_type(&parent.obj).ok() == Some(ObjType::Map) && holds_by(next, &parent.obj) {
                let owner = string_at(next, &parent.obj, BY);
                let foreign = accounts.into_iter().filter(|(account, index)| {
                    owner.as_deref() != Some(*account) && !owned_when_made(next, &parent.obj, account, &deps[*index])
                });
                for (account, _) in foreign {
                    if out.len() >= MOST {
                        break;
                    }
                    out.insert(located_at(next, &parent.obj, &key, not_yours(owner.as_deref(), account)));
                }
                break;
            }
        }
    }
    for (text, accounts) in made {
        let Ok(id) = next.import_obj(&object(&text)) else {
            out.insert(unknown(&object(&text)));
            continue;
        };
        let name = next.text(&id).unwrap_or_default();
        for account in accounts.into_iter().filter(|a| *a != name) {
            let holder = next.parents(&id).ok().and_then(|mut p| p.next()).map(|p| p.obj);
            out.insert(match holder {
                Some(holder) => located_at(next, &holder, BY, claimed(account, &name)),
                None => Violation::new(Collection::Document, "", BY, Rule::WrongAuthor, claimed(account, &name)),
            });
        }
    }
    out.into_iter().take(MOST).collect()
}

/// Whether the entry `id` was `account`'s where a change was made, at its dependencies `deps`:
/// a cadre who edits their own entry offline while another cadre, also offline, re-makes it
/// under their own name wrote into their own entry, whichever `by` the merge shows. A `by`
/// in conflict there counts for each of its sides. Looked up only for a write the merged
/// document does not show as the writer's (reading at past heads walks the change graph).
fn owned_when_made(next: &Automerge, id: &ObjId, account: &str, deps: &[ChangeHash]) -> bool {
    makers_at(next, id, Some(deps)).iter().any(|m| m == account)
}

/// Another account than `account` named by the `by` of the map `id` in `doc`, if any: any of
/// its sides where it is in conflict.
fn foreign_maker(doc: &Automerge, id: &ObjId, account: &str) -> Option<String> {
    let makers = makers_at(doc, id, None);
    if makers.iter().any(|m| m == account) { None } else { makers.into_iter().next() }
}

/// Another account than `account` named by the `by` of the map `id` in `doc`, or of a map
/// inside it down to `depth` levels (a record's void, a case's steps), if any.
fn foreign_maker_within(doc: &Automerge, id: &ObjId, account: &str, depth: usize) -> Option<String> {
    if doc.object_type(id).ok() != Some(ObjType::Map) {
        return None;
    }
    if let Some(maker) = foreign_maker(doc, id, account) {
        return Some(maker);
    }
    if depth == 0 {
        return None;
    }
    doc.map_range(id, ..).find_map(|item| match item.value {
        automerge::ValueRef::Object(ObjType::Map) => foreign_maker_within(doc, &item.id(), account, depth - 1),
        _ => None,
    })
}

/// The names the `by` of the map `id` holds, or held at `deps` when given (more than one where
/// it is in conflict; none where the map has no `by` or did not exist yet).
fn makers_at(doc: &Automerge, id: &ObjId, deps: Option<&[ChangeHash]>) -> Vec<String> {
    let values = match deps {
        Some(deps) => doc.get_all_at(id, BY, deps),
        None => doc.get_all(id, BY),
    };
    let Ok(values) = values else { return Vec::new() };
    values
        .into_iter()
        .filter_map(|value| match value {
            (automerge::Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(name) => Some(name.to_string()),
                _ => None,
            },
            (automerge::Value::Object(ObjType::Text), text) => match deps {
                Some(deps) => doc.text_at(&text, deps).ok(),
                None => doc.text(&text).ok(),
            },
            _ => None,
        })
        .collect()
}

/// Why `account` may not put its name on an entry of `maker`'s.
fn taken_over(maker: &str, account: &str) -> String {
    format!("这条记录由 {} 记录，账号 {account} 不能改为自己记录的；要更正请作废后重新录入", short(maker))
}

/// Why `account` may not replace or delete an entry of `maker`'s.
fn replaced(maker: &str, account: &str) -> String {
    format!("这条记录由 {} 记录，账号 {account} 不能替换或删除它；要更正请作废后重新录入", short(maker))
}

/// Why `account` may not change what an entry of `owner`'s says.
fn not_yours(owner: Option<&str>, account: &str) -> String {
    format!("这条记录由 {} 记录，账号 {account} 不能修改其内容", short(owner.unwrap_or("（无）")))
}

fn claimed(account: &str, name: &str) -> String {
    format!("记录人只能是提交修改的账号 {account}，不能写成 {}", short(name))
}

/// A name as a message shows it: a forged one may be megabytes long.
fn short(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

/// An object the changes name that the document does not hold.
fn unknown(obj: &str) -> Violation {
    let message = format!("修改指向文档中没有的对象 {}", short(obj));
    Violation::new(Collection::Document, "", "", Rule::BadValue, message)
}

/// Whether the map `id` holds a `by` of its own: a point entry, a case step or a void (the
/// records of meetings and cases hold none; their steps and voids do).
fn holds_by(next: &Automerge, id: &ObjId) -> bool {
    let Ok(parents) = next.parents(id) else { return false };
    let path: Vec<Prop> = parents.path().into_iter().map(|(_, prop)| prop).collect();
    let key = |i: usize, want: &str| matches!(path.get(i), Some(Prop::Map(k)) if k == want);
    match path.len() {
        2 => key(0, Collection::Points.key()),
        3 => key(2, "voided"),
        4 => key(0, Collection::Cases.key()) && key(2, "steps"),
        _ => false,
    }
}

/// An object as Automerge names it in text (`COUNTER@ACTOR`, or `_root`).
/// An object of `next` as operations name it (the inverse of [`object`]).
fn legacy(id: &ObjId) -> Option<ObjectId> {
    let text = id.to_string();
    let (counter, actor) = text.split_once('@')?;
    let actor = automerge::ActorId::from(hex::decode(actor).ok()?);
    Some(ObjectId::Id(OpId(counter.parse().ok()?, actor)))
}

fn object(obj: &ObjectId) -> String {
    match obj {
        ObjectId::Root => "_root".to_owned(),
        ObjectId::Id(op) => format!("{}@{}", op.0, op.1.to_hex_string()),
    }
}

/// The violation of a `by` in the map named `holder` (as [`object`] names it).
fn located(next: &Automerge, holder: &str, message: String) -> Violation {
    match next.import_obj(holder) {
        Ok(id) => located_at(next, &id, BY, message),
        Err(_) => Violation::new(Collection::Document, "", BY, Rule::WrongAuthor, message),
    }
}

/// The violation of the field `key` of the map `holder`: the record it belongs to, and the
/// field's path inside the record (`by`, `voided.by`, `steps.notice.by`), as far as the path
/// can be told.
fn located_at(next: &Automerge, holder: &ObjId, key: &str, message: String) -> Violation {
    let mut path: Vec<String> = match next.parents(holder) {
        Ok(parents) => parents
            .path()
            .into_iter()
            .map(|(_, prop)| match prop {
                Prop::Map(key) => key,
                Prop::Seq(i) => i.to_string(),
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    path.push(key.to_owned());
    let collection = path.first().and_then(|top| collection_of(top));
    match (collection, path.as_slice()) {
        (Some(which), [_, record, field @ ..]) => {
            Violation::new(which, record.as_str(), field.join("."), Rule::WrongAuthor, message)
        }
        _ => Violation::new(Collection::Document, "", path.join("."), Rule::WrongAuthor, message),
    }
}
