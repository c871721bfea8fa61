//! Who made each entry. A record's `by` names the account that made the entry (API.md), and
//! the server never trusts a phone: a `by` that new changes write must name the account that
//! pushed them, or one cadre's phone could put another cadre's name on its point entries, case
//! steps and voids. Each `by` that changed is traced to the operation that holds it (Automerge
//! names an operation by its actor and counter), and that operation to the push that brought
//! the change holding it, so pushes of several accounts admitted together are told apart.

use std::collections::HashMap;

use automerge::{ActorId, Automerge, Change, ObjId, ROOT, ReadDoc};

use crate::mapping::Touched;
use crate::{AccountId, Collection, RecordId, Rule, VillageYear, Violation, Voided};

/// The operations of new changes, by actor, with the account that pushed each change.
#[derive(Debug, Default)]
pub(crate) struct Writers<'a> {
    /// By actor: the first and last counter of each change's operations, and its account,
    /// ordered by the first.
    ops: HashMap<ActorId, Vec<(u64, u64, &'a str)>>,
    /// The one account of every change, when they have one (a phone's push alone).
    sole: Option<&'a str>,
}

impl<'a> Writers<'a> {
    pub(crate) fn new<'c>(changes: impl IntoIterator<Item = (&'c Change, &'a str)>) -> Self {
        let mut ops: HashMap<ActorId, Vec<(u64, u64, &'a str)>> = HashMap::new();
        let mut accounts = None;
        for (change, account) in changes {
            accounts = match accounts {
                None => Some(Some(account)),
                Some(one) => Some(one.filter(|one| *one == account)),
            };
            ops.entry(change.actor_id().clone()).or_default().push((change.start_op().get(), change.max_op(), account));
        }
        ops.values_mut().for_each(|ranges| ranges.sort_unstable_by_key(|r| r.0));
        Writers { ops, sole: accounts.flatten() }
    }

    /// The account whose push holds the operation `id`; `None` when no new change holds it.
    fn of(&self, id: &ObjId) -> Option<&'a str> {
        let ObjId::Id(counter, actor, _) = id else { return None };
        let ranges = self.ops.get(actor)?;
        let (start, last, account) = ranges[..ranges.partition_point(|r| r.0 <= *counter)].last()?;
        (start..=last).contains(&counter).then_some(*account)
    }
}

/// The `by`s of the records `touched` names in `after` (the document `next` as read) that the
/// new changes (`writers`) wrote in another account's name, or that changed in place, without
/// a new operation of their own (text edited character by character). `before`: the base as
/// read, when it could be; a `by` it holds unchanged is not looked at.
pub(crate) fn misattributed(
    next: &Automerge,
    before: Option<&VillageYear>,
    after: &VillageYear,
    touched: &Touched,
    writers: &Writers<'_>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut collections = HashMap::new();
    let mut check = |which: Collection, key: &str| {
        let Ok(id) = RecordId::parse(key) else { return };
        let was = before.map(|b| bys(b, which, &id));
        for (slot, by) in bys(after, which, &id) {
            // The `by` at the same place before: `Some(None)` when the base lacked it.
            let known = was.as_ref().map(|w| w.iter().find(|(s, _)| *s == slot).map(|(_, b)| *b));
            match known {
                Some(Some(was)) if was == by => continue,
                // New here, and in the name of the one account the new changes have: whether its
                // operation is theirs or older (a record the base could not read), it stands.
                Some(None) | None if writers.sole == Some(by.as_str()) => continue,
                _ => {}
            }
            let collection = collections.entry(which).or_insert_with(|| op_at(next, ROOT, &[which.key()]));
            let op = collection.clone().and_then(|c| op_at(next, c, &[&[key][..], &slot.path()].concat()));
            let message = match (op.and_then(|op| writers.of(&op)), known) {
                (Some(account), _) if account == by.as_str() => continue,
                (Some(account), _) => format!("记录人只能是提交修改的账号 {account}，不能写成 {by}"),
                (None, Some(Some(was))) => format!("记录人不能从 {was} 改为 {by}"),
                // Written before these changes, where the base held none or could not be read.
                (None, _) => continue,
            };
            out.push(Violation::new(which, key, slot.path().join("."), Rule::WrongAuthor, message));
        }
    };
    match touched {
        Touched::Records(records) => records.iter().for_each(|(which, key)| check(*which, key)),
        Touched::All => {
            let meetings = after.meetings.keys().map(|k| (Collection::Meetings, k));
            let points = after.points.keys().map(|k| (Collection::Points, k));
            let cases = after.cases.keys().map(|k| (Collection::Cases, k));
            meetings.chain(points).chain(cases).for_each(|(which, key)| check(which, key.as_str()));
        }
    }
    out
}

/// Where a record holds a `by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot<'r> {
    /// The point entry's own.
    Entry,
    /// The void's.
    Voided,
    /// The case step's of this code.
    Step(&'r str),
}

impl<'r> Slot<'r> {
    /// Its path inside the record.
    fn path(self) -> Vec<&'r str> {
        match self {
            Slot::Entry => vec!["by"],
            Slot::Voided => vec!["voided", "by"],
            Slot::Step(code) => vec!["steps", code, "by"],
        }
    }
}

/// The `by`s a record holds, each with where it holds it.
fn bys<'r>(doc: &'r VillageYear, which: Collection, id: &RecordId) -> Vec<(Slot<'r>, &'r AccountId)> {
    let voided = |v: &'r Option<Voided>| v.as_ref().map(|v| (Slot::Voided, &v.by));
    match which {
        Collection::Points => {
            doc.points.get(id).map(|p| [(Slot::Entry, &p.by)].into_iter().chain(voided(&p.voided)).collect())
        }
        Collection::Meetings => doc.meetings.get(id).map(|m| voided(&m.voided).into_iter().collect()),
        Collection::Cases => doc.cases.get(id).map(|c| {
            let steps = c.steps.iter().map(|(code, step)| (Slot::Step(code.as_str()), &step.by));
            steps.chain(voided(&c.voided)).collect()
        }),
        Collection::Members | Collection::Document => None,
    }
    .unwrap_or_default()
}

/// The operation that holds the value at `path` from the map `from` (for text, the one that
/// made it).
fn op_at(doc: &Automerge, from: ObjId, path: &[&str]) -> Option<ObjId> {
    path.iter().try_fold(from, |obj, key| doc.get(&obj, *key).ok().flatten().map(|(_, id)| id))
}
