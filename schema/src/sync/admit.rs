//! Admission of new changes: who wrote them, and whether the result is still valid.
//!
//! Validation reads the records of the new document. When the caller knows the base document's
//! records as read (the server keeps them with the document it has in memory), only the records
//! the new changes touched are read again ([`mapping::reread`]); the rules are then checked on
//! every record, as always.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use automerge::{ActorId, Automerge, Change, ChangeHash, Patch, ReadDoc};

use super::authors::forged;
use crate::mapping::{self, Hydrated, Touched, genesis};
use crate::validate::unreadable;
use crate::{Catalog, Rule, VillageId, Violation, Year, check_read, erased, read_problems, validate};

/// Who an actor id belongs to, as the server's bindings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Bound to the caller's account.
    Caller,
    /// Bound to another account.
    Other,
    /// Never seen: it becomes the caller's when the changes are stored.
    Unbound,
}

/// What admission needs to know about the document and the caller.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    pub village: &'a VillageId,
    pub year: Year,
    pub catalog: &'a Catalog,
    /// The caller's account: the `by` of what its changes write.
    pub account: &'a str,
    pub owner: &'a (dyn Fn(&ActorId) -> Owner + Sync),
}

impl std::fmt::Debug for Gate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("village", self.village).field("year", &self.year).finish_non_exhaustive()
    }
}

/// Changes that may be stored.
#[derive(Debug)]
pub struct Accepted {
    /// The document with the changes applied.
    pub doc: Automerge,
    /// The changes new to the base document, in an order that respects their dependencies.
    pub changes: Vec<Change>,
    /// Actors seen for the first time: bind them to the caller.
    pub bind: Vec<ActorId>,
    /// The new document as read: its records, and the problems of those that could not be (the
    /// base's own, shared, when nothing was new).
    pub read: Arc<Hydrated>,
    /// The records that may differ from the base's (all, when the base was not known as read).
    pub touched: Touched,
    /// The rules of the records ([`crate::validate`]) the new document breaks as stored: those
    /// broken before these changes (a catalog tightened since) and those only the merge of
    /// offline edits made ([`of_the_pushers`]). None when nothing was new, and so nothing
    /// looked at.
    pub problems: Option<Vec<Violation>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("无法解析同步消息：{0}")]
    Undecodable(String),
    #[error("修改的作者 {actor} 属于另一个账号，本账号不能以其名义提交")]
    ForeignActor { actor: String },
    #[error("伪造的文档起始修改")]
    ForgedGenesis,
    #[error("{}", first_line(.0))]
    Invalid(Vec<Violation>),
}

fn first_line(v: &[Violation]) -> String {
    match v {
        [] => "记录不合规".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first}（另有 {} 处问题）", rest.len()),
    }
}

/// Decides whether `next` (the base document with a phone's changes applied) may replace `base`.
pub fn admit(base: &Automerge, next: Automerge, gate: &Gate<'_>) -> Result<Accepted, Refusal> {
    admit_known(base, None, next, Vec::new(), gate)
}

/// [`admit`], given what is known of the base: `base_read` (the base as read) and `patches`
/// (those of applying the new changes to it), so that only the records they touch are read
/// again.
pub fn admit_known(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    next: Automerge,
    patches: Vec<Patch>,
    gate: &Gate<'_>,
) -> Result<Accepted, Refusal> {
    let changes = next.get_changes(&base.get_heads());
    admit_changes(base, base_read, next, patches, changes, gate)
}

/// [`admit`] for new changes that several accounts wrote, `author` naming the account of each
/// change's actor, where the gate's account would name one for all: a server storing a
/// village's history whole (the benchmark's seeding). Each `by` must name the account of the
/// change that wrote it, as always.
pub fn admit_authored<'a>(
    base: &Automerge,
    next: Automerge,
    gate: &Gate<'a>,
    author: &dyn Fn(&ActorId) -> &'a str,
) -> Result<Accepted, Refusal> {
    let changes = next.get_changes(&base.get_heads());
    let bind = owned(&changes, gate)?;
    let authors: Vec<&str> = changes.iter().map(|c| author(c.actor_id())).collect();
    validated(base, None, Applied { next, patches: Vec::new(), changes }, bind, &authors, gate)
}

/// [`admit_known`], given `changes`: those of `next` that `base` lacks, in causal order (see
/// [`new_to`]). Automerge 0.12 rebuilds a change's bytes from the op set when asked for it;
/// a caller that received the changes already has them.
pub(crate) fn admit_changes(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    next: Automerge,
    patches: Vec<Patch>,
    changes: Vec<Change>,
    gate: &Gate<'_>,
) -> Result<Accepted, Refusal> {
    let bind = owned(&changes, gate)?;
    let authors = vec![gate.account; changes.len()];
    validated(base, base_read, Applied { next, patches, changes }, bind, &authors, gate)
}

/// Whether the caller may have written `changes` (new to the document): the actors seen for
/// the first time, to bind to the caller, or why not.
pub(crate) fn owned(changes: &[Change], gate: &Gate<'_>) -> Result<Vec<ActorId>, Refusal> {
    let genesis_actor = crate::mapping::genesis_actor(gate.village, gate.year);
    let mut bind = Vec::new();
    let mut genesis_hash = None;
    for change in changes {
        // Stored with the change as text: PostgreSQL takes no NUL in text, and the history
        // pages show it to people.
        if change.message().is_some_and(|m| m.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))) {
            return Err(Refusal::Undecodable("修改说明含有控制字符".to_owned()));
        }
        let actor = change.actor_id();
        // Only the genesis itself may bear a genesis actor: the root's keys are that actor's to
        // write ([`forged`](super::authors::forged)), so any other actor named like it could
        // put a collection of its own over everyone's records.
        if *actor != genesis_actor && actor.to_bytes().starts_with(crate::mapping::GENESIS_PREFIX.as_bytes()) {
            return Err(Refusal::ForgedGenesis);
        }
        if *actor == genesis_actor {
            let expected = genesis_hash.get_or_insert_with(|| genesis(gate.village, gate.year).get_heads());
            if *expected != [change.hash()] {
                return Err(Refusal::ForgedGenesis);
            }
            continue;
        }
        match (gate.owner)(actor) {
            Owner::Caller => {}
            Owner::Other => return Err(Refusal::ForeignActor { actor: actor.to_hex_string() }),
            Owner::Unbound => {
                if !bind.contains(actor) {
                    bind.push(actor.clone());
                }
            }
        }
    }
    Ok(bind)
}

/// New changes applied to a base document.
pub(crate) struct Applied {
    /// The base with the changes applied.
    pub next: Automerge,
    /// The patches of applying them, when the base's records as read are known.
    pub patches: Vec<Patch>,
    /// The changes new to the base, in causal order.
    pub changes: Vec<Change>,
}

/// Whether `applied.next` (`base` with new changes applied) is still valid: only what the
/// changes broke counts, and each `by` they write names the account that pushed them
/// (`authors`: each change's, in order). The gate's owner and account are not asked ([`owned`]
/// and `authors` were).
pub(crate) fn validated(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    applied: Applied,
    bind: Vec<ActorId>,
    authors: &[&str],
    gate: &Gate<'_>,
) -> Result<Accepted, Refusal> {
    let Applied { next, patches, changes } = applied;
    if changes.is_empty()
        && let Some(before) = base_read
    {
        // Nothing new (a phone that only pulls): the document is the base, as valid as it was.
        return Ok(Accepted {
            doc: next,
            changes,
            bind,
            read: before.clone(),
            touched: Touched::Records(BTreeSet::new()),
            problems: None,
        });
    }
    let (read, touched) = match base_read {
        Some(before) => match mapping::reread(&next, before, patches, next.text_encoding()) {
            Ok((read, touched)) => (Ok(read), touched),
            Err(e) => (Err(e), Touched::All),
        },
        None => (mapping::read(&next), Touched::All),
    };
    // The rules of the records, kept apart too: what the document keeps breaking once stored (a
    // merge's two fields, a catalog tightened since) is shown to the township
    // (`Accepted::problems`). Then what the changes write, by whom and over what, which are
    // always the changes' own.
    let (now, rules) = match &read {
        Ok(h) => {
            let rules = validate(&h.doc, gate.catalog);
            let mut now = read_problems(h, gate.village, gate.year);
            now.extend(rules.iter().cloned());
            (now, Some(rules))
        }
        Err(e) => (vec![unreadable(e)], None),
    };
    let mut written = Vec::new();
    // The base as read: known, or read whole here, once (only when not known, which the
    // server's pushes never are).
    let read_whole;
    let base_as_read = match base_read {
        Some(b) => Ok(&**b),
        None => {
            read_whole = mapping::read(base);
            read_whole.as_ref()
        }
    };
    if let (Ok(after), Ok(before)) = (&read, base_as_read) {
        // Records are voided, never deleted.
        written.extend(erased(&before.doc, after, &touched));
    }
    written.extend(forged(base, &next, changes.iter().zip(authors.iter().copied())));
    if !now.is_empty() || !written.is_empty() {
        // Only what these changes broke counts: a rule broken before (say, by a catalog
        // that changed since) must not block every later edit of the village.
        let before: BTreeSet<Violation> = match base_as_read {
            Ok(b) => check_read(b, gate.village, gate.year, gate.catalog).into_iter().collect(),
            Err(e) => BTreeSet::from([unreadable(e)]),
        };
        let new: Vec<Violation> = now.iter().filter(|v| !before.contains(v)).cloned().collect();
        let mut new = of_the_pushers(&next, &changes, new, gate);
        new.extend(written.into_iter().filter(|v| !before.contains(v)));
        if !new.is_empty() {
            return Err(Refusal::Invalid(new));
        }
    }
    let read = Arc::new(read.map_err(|e| Refusal::Undecodable(e.to_string()))?);
    Ok(Accepted { doc: next, changes, bind, read, touched, problems: rules })
}

/// Of the rules `new` says the changes broke, those the changes broke themselves: a rule of the
/// records broken only where they meet edits made elsewhere at the same time, which the pushing
/// phone never saw (one phone marks a member present while the other records their make-up;
/// one phone sets a member's leaving day and the other their arrival), is the merge's. Refusing
/// it would hold up every later edit of that phone, which cannot correct what it never saw; the
/// record is stored as the merge made it, and shown to the cadres to correct (`zhibu
/// conflicts`). Only rules two fields of one record take part in are looked at so; what is
/// written, by whom and over what is checked apart and always the changes' own. A phone could
/// name old dependencies on purpose to store such a record: it is then its own record that
/// reads oddly, shown to the cadres, and the history says who wrote it. Looked at only when
/// there is something to refuse: the document as the phones had it, their changes on their
/// dependencies, is read again whole.
fn of_the_pushers(next: &Automerge, changes: &[Change], new: Vec<Violation>, gate: &Gate<'_>) -> Vec<Violation> {
    // Only rules two fields of one record take part in, which two phones can set apart: the
    // rest (a limit of the whole document a phone could pass in slices, each pushed on the same
    // old heads; a step of another item) are the pushing phone's to keep. Never a value's form:
    // a record whose value cannot be read drops out of every figure and out of the checks that
    // it was not deleted or un-voided, and one account with two actors could make any record so
    // on purpose (two texts edited in place on old dependencies merge into `2026-03-0407`).
    // Clients write such values whole (API-EXTENSIONS.md).
    let pushers_alone = |v: &Violation| {
        !matches!(v.rule, Rule::DateOrder | Rule::MakeupWhilePresent | Rule::LeaveWithoutReason | Rule::GroupMissing)
    };
    if changes.is_empty() || new.iter().all(pushers_alone) {
        return new;
    }
    let depended: HashSet<ChangeHash> = changes.iter().flat_map(|c| c.deps().iter().copied()).collect();
    let heads: Vec<ChangeHash> = changes.iter().map(Change::hash).filter(|h| !depended.contains(h)).collect();
    let Ok(own) = next.fork_at(&heads) else { return new };
    let Ok(own) = mapping::read(&own) else { return new };
    let place = |v: &Violation| (v.collection, v.record.clone(), v.field.clone(), v.rule);
    let theirs: HashSet<_> = check_read(&own, gate.village, gate.year, gate.catalog).iter().map(place).collect();
    new.into_iter().filter(|v| pushers_alone(v) || theirs.contains(&place(v))).collect()
}

/// The changes of `incoming` that `base` lacks, each once, in an order where every change
/// comes after those of its dependencies that are among them (a phone may send them in any
/// order; they are stored in this one).
pub(crate) fn new_to(base: &Automerge, incoming: &[Change]) -> Vec<Change> {
    let mut pending: Vec<&Change> = Vec::new();
    let mut hashes = HashSet::new();
    for c in incoming {
        // A change the document holds is not among the missing of its own hash (the list also
        // names what changes waiting in the document's queue lack, whatever is asked); Automerge's
        // `get_change_by_hash` would rebuild the change to answer the same question.
        if !base.get_missing_deps(&[c.hash()]).contains(&c.hash()) || !hashes.insert(c.hash()) {
            continue;
        }
        pending.push(c);
    }
    // Kahn's algorithm: linear in the changes and their dependencies, whatever the order.
    let index: HashMap<ChangeHash, usize> = pending.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let mut waiting = vec![0usize; pending.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); pending.len()];
    for (i, c) in pending.iter().enumerate() {
        for d in c.deps() {
            if let Some(&j) = index.get(d) {
                waiting[i] += 1;
                dependents[j].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..pending.len()).rev().filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(pending.len());
    while let Some(i) = ready.pop() {
        out.push(pending[i].clone());
        for &k in dependents[i].iter().rev() {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(k);
            }
        }
    }
    // A cycle cannot be (a change's hash covers its dependencies); a change caught in one
    // would simply not be stored.
    out
}
