//! `rebuild`: after a refusal, start again from the server's document plus the local edits that
//! still pass.
//!
//! The local changes the server lacks are replayed onto the server's document one at a time, in
//! causal order, each checked like a new edit (it may not break a rule the document did not
//! already break):
//! - a change whose dependencies are all in the rebuilt document is applied as it is;
//! - a change that builds on one that was dropped (every later edit of the same phone does,
//!   Automerge chains a phone's changes) is re-made: what it changed in the records, read from
//!   the local document just before and after it, is written again as a new change with the same
//!   message and time. So an independent later edit survives the drop of an earlier bad one,
//!   while an edit of a record whose creation was dropped fails its check and is dropped too.
//!
//! The result replaces the local document durably (as a new snapshot), the sync state starts from
//! the server's heads, and the report lists every dropped edit with the rules it broke. The
//! dropped and the re-made originals were never accepted by the server, so no other replica has
//! them.

use std::collections::BTreeSet;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, Change, ReadDoc};
use serde::{Deserialize, Serialize};
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::sync::forged;
use zhibu_schema::{Catalog, Collection, Rule, Violation, Year};

use super::transport::Transport;
use crate::error::ClientError;
use crate::phone::put_back;
use crate::replica::json::{hydrated_json, writes};
use crate::replica::order::causal_order;
use crate::replica::{Replica, present, violations_of};
use crate::store::write_atomic;
use crate::{DocKey, Phone, clock};

/// A local edit that `rebuild` left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedEdit {
    /// The change's hash.
    pub hash: String,
    /// The action, as its commit message names it.
    pub message: Option<String>,
    /// When it was made (Unix seconds, the phone's clock).
    pub time: i64,
    /// The rules it broke.
    pub violations: Vec<Violation>,
}

/// What `rebuild` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// The document rebuilt.
    pub key: DocKey,
    /// Local edits kept as they were.
    pub kept: usize,
    /// Local edits kept by writing their effect again (they built on a dropped edit).
    pub remade: usize,
    /// Local edits left out, in causal order.
    pub dropped: Vec<DroppedEdit>,
    /// Where the local document as it was before the rebuild is kept, when edits were left
    /// out: their content is not lost, and can be looked at or recovered from there. For a
    /// document whose files were damaged, the folder they were moved to, as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_as: Option<std::path::PathBuf>,
    /// The phone's files of the document were damaged: the server's document replaced them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub was_damaged: bool,
}

enum Fail {
    Refused(Vec<Violation>),
    Write(WriteError),
}

/// Replays `changes` (local changes taken from `local`) onto `base` as `account` under `actor`;
/// see the module docs. Each is checked as the server checks it, its `by`s included: an edit
/// in another account's name would only be refused again.
pub(crate) fn replay(
    base: Automerge,
    local: &Automerge,
    changes: Vec<Change>,
    key: &DocKey,
    catalog: &Catalog,
    (actor, account): (&ActorId, &str),
) -> (Automerge, RebuildReport) {
    let mut doc = base.with_actor(actor.clone());
    let mut report =
        RebuildReport { key: key.clone(), kept: 0, remade: 0, dropped: Vec::new(), saved_as: None, was_damaged: false };
    for change in causal_order(changes) {
        let before: BTreeSet<Violation> = violations_of(&doc, key, catalog);
        let dropped = |violations| DroppedEdit {
            hash: change.hash().to_string(),
            message: change.message().map(str::to_owned),
            time: change.timestamp(),
            violations,
        };
        if present(&doc, change.deps()).len() == change.deps().len() {
            let mut next = doc.fork().with_actor(actor.clone());
            let applied = next.apply_changes([change.clone()]).is_ok();
            let new = match applied {
                true => {
                    let mut new = new_violations(&next, key, catalog, &before);
                    new.extend(forged(&doc, &next, [(&change, account)]));
                    new
                }
                false => vec![unreplayable("")],
            };
            if new.is_empty() {
                doc = next;
                report.kept += 1;
            } else {
                report.dropped.push(dropped(new));
            }
            continue;
        }
        let effect = writes(
            &hydrated_json(&local.hydrate(Some(change.deps()))),
            &hydrated_json(&local.hydrate(Some(&[change.hash()]))),
        );
        let message = change.message().unwrap_or("重建").to_owned();
        let mut next = doc.fork().with_actor(actor.clone());
        let result = next.transact_with::<_, _, Fail, _>(
            |_| CommitOptions::default().with_message(message).with_time(change.timestamp()),
            |tx| {
                for (path, value) in &effect {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    mapping::put_at(tx, &path, value).map_err(Fail::Write)?;
                }
                let new = new_violations(&*tx, key, catalog, &before);
                if new.is_empty() { Ok(()) } else { Err(Fail::Refused(new)) }
            },
        );
        match result {
            Ok(done) => {
                let made = done.hash.and_then(|hash| next.get_change_by_hash(&hash));
                let forged = made.map(|made| forged(&doc, &next, [(&made, account)])).unwrap_or_default();
                if forged.is_empty() {
                    doc = next;
                    report.remade += 1;
                } else {
                    report.dropped.push(dropped(forged));
                }
            }
            Err(f) => report.dropped.push(dropped(match f.error {
                Fail::Refused(v) => v,
                Fail::Write(e) => vec![unreplayable(&e.to_string())],
            })),
        }
    }
    (doc, report)
}

fn unreplayable(why: &str) -> Violation {
    let why = if why.is_empty() { String::new() } else { format!("（{why}）") };
    Violation::new(Collection::Document, "", "", Rule::Header, format!("这条修改无法应用到服务器的文档上{why}"))
}

/// The rules `doc` breaks that were not broken `before`.
fn new_violations(doc: &impl ReadDoc, key: &DocKey, catalog: &Catalog, before: &BTreeSet<Violation>) -> Vec<Violation> {
    violations_of(doc, key, catalog).into_iter().filter(|v| !before.contains(v)).collect()
}

impl Phone {
    /// Replaces `year`'s document by the server's plus the local edits that still pass (see the
    /// module documentation). Needs the network for one request. A document whose files are
    /// damaged has its files moved aside, as they are, and the server's document in their place.
    pub async fn rebuild<T: Transport>(&self, transport: &T, year: Year) -> Result<RebuildReport, ClientError> {
        let key = self.with(|inner| Ok(DocKey::new(inner.village()?, year)))?;
        // A refusal often comes from a catalog the township changed: replay against the one
        // in force now.
        self.set_catalog(transport.fetch_catalog().await?)?;
        let bytes = transport.fetch_doc(&key).await?;
        let server = match bytes {
            Some(bytes) => zhibu_schema::guard::load_document(&bytes)
                .map_err(|e| ClientError::Offline(format!("服务器的文档无法解析：{e}")))?,
            None => mapping::genesis(&key.village, key.year),
        };
        self.with(|inner| {
            let actor = inner.actor.clone();
            let account = inner.cadre()?.account.id.to_string();
            // Damaged files: what of them still reads is the local document, and the files go
            // aside as they are.
            let damaged = match inner.damaged.get(&key).cloned() {
                Some(detail) => {
                    let salvaged = crate::store::log::salvage(&inner.dir, &key.stem());
                    let mut local = Replica::salvage(&key, actor.clone(), &salvaged);
                    // Changes that build on a record lost to the damage wait in the salvaged
                    // document's queue: those it lacks that the server has let them in.
                    let mut merged = local.clone();
                    if let Ok(Ok(_)) = zhibu_schema::guard::catch(|| merged.merge(&mut server.clone())) {
                        local = merged;
                    }
                    let aside = inner.set_aside_damaged(&key)?;
                    // Until the year is written anew: a rebuild cut short here is undone at
                    // the next opening, the damage with it.
                    write_atomic(&aside.join(crate::phone::REBUILDING), detail.as_bytes())?;
                    Some((local, aside, detail))
                }
                None => None,
            };
            inner.doc_or_new(&key)?;
            let catalog = inner.catalog.catalog.clone();
            let stored = inner.docs.get_mut(&key).expect("created above");
            let local_doc = damaged.as_ref().map_or(&stored.replica.doc, |(salvaged, ..)| salvaged);
            let local = server.get_changes_added(local_doc);
            let server_heads = server.get_heads();
            let (rebuilt, mut report) = replay(server, local_doc, local, &key, &catalog, (&actor, &account));
            report.was_damaged = damaged.is_some();
            report.saved_as = damaged.as_ref().map(|(_, aside, _)| aside.clone());
            if !report.dropped.is_empty() && !report.was_damaged {
                // The edits left out are the cadre's work: the document holding them is kept
                // beside the store's files before it is replaced (damaged files are kept whole).
                let path = inner.dir.join(format!("{}.before-rebuild-{}.automerge", key.stem(), clock::unix_seconds()));
                write_atomic(&path, &stored.replica.doc.save())?;
                report.saved_as = Some(path);
            }
            if let Err(e) = stored.replace(&rebuilt.save()) {
                if let Some((_, aside, detail)) = damaged {
                    // The damaged files go back where they were, and the damage with them, so
                    // that the next rebuild finds their edits again.
                    inner.docs.remove(&key);
                    put_back(&inner.dir, &key, &aside)?;
                    inner.damaged.insert(key, detail);
                    return Err(e);
                }
                // The snapshot may or may not have been replaced: take whichever the disk holds.
                if let Err(reload) = stored.reload(&inner.dir, actor) {
                    inner.broken = Some(format!("重建失败后无法重新读取：{reload}"));
                }
                return Err(e);
            }
            let replica = &mut stored.replica;
            replica.doc = rebuilt;
            replica.forget_violations();
            replica.meta.server_heads.clone_from(&server_heads);
            replica.meta.sync_state = automerge::sync::State::new();
            replica.meta.sync_state.shared_heads = server_heads;
            replica.meta.refusal = None;
            inner.save_meta(&key)?;
            if let Some(aside) = &report.saved_as
                && report.was_damaged
                && let Err(e) = std::fs::remove_file(aside.join(crate::phone::REBUILDING))
            {
                // The year is rebuilt; left, the marker would put the damaged files back over it
                // at the next opening, to be rebuilt again: nothing lost, but said.
                tracing::warn!(folder = %aside.display(), error = %e, "the rebuild's marker was not removed");
            }
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use zhibu_schema::{AccountId, PointDelta, PointEntry, RecordId};

    use super::*;
    use crate::testutil::*;

    fn entry(member: &str, delta: i64, by: &str) -> PointEntry {
        PointEntry {
            member_id: mid(member),
            rule: code("volunteer"),
            delta: PointDelta::new(delta).unwrap(),
            on: d("2026-04-01"),
            note: None,
            by: AccountId::parse(by).unwrap(),
            voided: None,
        }
    }

    fn award(doc: &mut Automerge, n: u128, entry: &PointEntry) {
        let id = RecordId::from_u128(n);
        doc.transact::<_, _, WriteError>(|tx| mapping::put_record_id(tx, Collection::Points, &id, entry)).unwrap();
    }

    /// Edits in another account's name would only be refused by the server again: rebuild
    /// leaves them out, whether it keeps an edit as it is or makes it again.
    #[test]
    fn edits_in_another_accounts_name_are_left_out() {
        let key = key();
        let mut server = mapping::genesis(&key.village, key.year).with_actor(ActorId::from(b"server".as_slice()));
        let roster = zhibu_schema::sample::roster(&key.village, key.year, 8, 1);
        server.transact::<_, _, WriteError>(|tx| mapping::put_document(tx, &roster)).unwrap();
        let actor = ActorId::from(b"phone".as_slice());
        let mut local = server.fork().with_actor(actor.clone());
        award(&mut local, 1, &entry("v1-m01", 2, "cadre2"));
        // One that breaks a rule, and one in another's name built on it (made again).
        award(&mut local, 2, &entry("v1-m02", 9, "cadre1"));
        award(&mut local, 3, &entry("v1-m03", 1, "cadre2"));
        award(&mut local, 4, &entry("v1-m04", 1, "cadre1"));
        let changes = local.get_changes(&server.get_heads());
        let (rebuilt, report) = replay(server, &local, changes, &key, &Catalog::default(), (&actor, "cadre1"));
        let rules: Vec<Vec<Rule>> =
            report.dropped.iter().map(|d| d.violations.iter().map(|v| v.rule).collect()).collect();
        assert_eq!(rules, [vec![Rule::WrongAuthor], vec![Rule::DeltaOutOfRange], vec![Rule::WrongAuthor]]);
        assert_eq!((report.kept, report.remade), (0, 1), "{report:#?}");
        let points = mapping::read(&rebuilt).unwrap().doc.points;
        assert_eq!(points.keys().cloned().collect::<Vec<_>>(), [RecordId::from_u128(4)]);
    }
}
