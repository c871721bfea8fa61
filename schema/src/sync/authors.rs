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
//! that it makes or edits, must read as the account that pushed the change. Pushes of several
//! accounts admitted together (`zhibu_server::together`) are told apart, each change with its
//! own account.

use std::collections::{BTreeMap, BTreeSet};

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Automerge, Change, ObjId, ObjType, Prop, ReadDoc, ScalarValue};

use crate::{Collection, Rule, Violation};

/// The map key that names who made an entry.
const BY: &str = "by";

/// Where the new `changes` (each with the account that pushed it) write, under a key `by` of
/// `next` (the document with them applied), a name other than their account's.
pub(crate) fn forged<'c, 'a>(
    next: &Automerge,
    changes: impl IntoIterator<Item = (&'c Change, &'a str)>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // Texts the changes make at a key `by`, and texts they edit: by object, the accounts that
    // made or edited them.
    let mut made: BTreeMap<String, BTreeSet<&'a str>> = BTreeMap::new();
    let mut edited: BTreeMap<String, BTreeSet<&'a str>> = BTreeMap::new();
    // Texts they make at other keys (a JavaScript client writes every string as text).
    let mut elsewhere: BTreeSet<String> = BTreeSet::new();
    for (change, account) in changes {
        let expanded = change.decode();
        let actor = expanded.actor_id.to_hex_string();
        for (i, op) in expanded.operations.iter().enumerate() {
            match (&op.key, &op.action) {
                (Key::Map(key), OpType::Put(ScalarValue::Str(name))) if key == BY && name != account => {
                    let claimed = format!("记录人只能是提交修改的账号 {account}，不能写成 {name}");
                    out.push(located(next, &object(&op.obj), claimed));
                }
                (Key::Map(key), OpType::Make(ObjType::Text)) => {
                    let id = format!("{}@{actor}", expanded.start_op.get() + i as u64);
                    if key == BY {
                        made.entry(id).or_default().insert(account);
                    } else {
                        elsewhere.insert(id);
                    }
                }
                (Key::Seq(_), _) => {
                    edited.entry(object(&op.obj)).or_default().insert(account);
                }
                _ => {}
            }
        }
    }
    for (text, accounts) in edited.into_iter().filter(|(text, _)| !elsewhere.contains(text)) {
        // A text made here at a key `by`, or one made before: whether it sits at such a key.
        let at_by = made.contains_key(&text)
            || next
                .import_obj(&text)
                .ok()
                .and_then(|id| next.parents(&id).ok()?.next())
                .is_some_and(|parent| matches!(&parent.prop, Prop::Map(key) if key == BY));
        if at_by {
            made.entry(text).or_default().extend(accounts);
        }
    }
    for (text, accounts) in made {
        let Ok(id) = next.import_obj(&text) else { continue };
        let name = next.text(&id).unwrap_or_default();
        for account in accounts.into_iter().filter(|a| *a != name) {
            let message = format!("记录人只能是提交修改的账号 {account}，不能写成 {name}");
            let holder = next.parents(&id).ok().and_then(|mut p| p.next()).map(|p| p.obj);
            out.push(match holder {
                Some(holder) => located_at(next, &holder, message),
                None => Violation::new(Collection::Document, "", BY, Rule::WrongAuthor, message),
            });
        }
    }
    out
}

/// An object as Automerge names it in text (`COUNTER@ACTOR`, or `_root`).
fn object(obj: &ObjectId) -> String {
    match obj {
        ObjectId::Root => "_root".to_owned(),
        ObjectId::Id(op) => format!("{}@{}", op.0, op.1.to_hex_string()),
    }
}

/// The violation of a `by` in the map named `holder` (as [`object`] names it).
fn located(next: &Automerge, holder: &str, message: String) -> Violation {
    match next.import_obj(holder) {
        Ok(id) => located_at(next, &id, message),
        Err(_) => Violation::new(Collection::Document, "", BY, Rule::WrongAuthor, message),
    }
}

/// The violation of a `by` in the map `holder`: the record it belongs to, and the field's path
/// inside the record (`by`, `voided.by`, `steps.notice.by`), as far as the path can be told.
fn located_at(next: &Automerge, holder: &ObjId, message: String) -> Violation {
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
    path.push(BY.to_owned());
    let collection = [Collection::Meetings, Collection::Points, Collection::Cases, Collection::Members]
        .into_iter()
        .find(|c| path.first().is_some_and(|top| top == c.key()));
    match (collection, path.as_slice()) {
        (Some(which), [_, record, field @ ..]) => {
            Violation::new(which, record.as_str(), field.join("."), Rule::WrongAuthor, message)
        }
        _ => Violation::new(Collection::Document, "", path.join("."), Rule::WrongAuthor, message),
    }
}
