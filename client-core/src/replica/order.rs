//! Causal order of a set of changes, for replaying them one at a time (`rebuild`).

use std::collections::{BTreeMap, BTreeSet};

use automerge::{Change, ChangeHash};

/// Orders `changes` so that each comes after every one of its dependencies in the set; among
/// changes free to go, the earlier in the input goes first. Dependencies outside the set are
/// taken as already applied.
pub(crate) fn causal_order(changes: Vec<Change>) -> Vec<Change> {
    let in_set: BTreeSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let mut waiting_on: Vec<usize> = Vec::with_capacity(changes.len());
    let mut dependents: BTreeMap<ChangeHash, Vec<usize>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        let deps: Vec<&ChangeHash> = c.deps().iter().filter(|d| in_set.contains(d)).collect();
        waiting_on.push(deps.len());
        for d in deps {
            dependents.entry(*d).or_default().push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..changes.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut order = Vec::with_capacity(changes.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in dependents.get(&changes[i].hash()).map_or(&[][..], Vec::as_slice) {
            waiting_on[j] -= 1;
            if waiting_on[j] == 0 {
                ready.insert(j);
            }
        }
    }
    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ROOT};

    #[test]
    fn dependencies_come_first_whatever_the_input_order() {
        let mut a = Automerge::new().with_actor(ActorId::from(b"a".as_slice()));
        for i in 0..4 {
            a.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "n", i)).unwrap();
        }
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        b.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "m", 1)).unwrap();
        a.merge(&mut b).unwrap();
        let mut changes = a.get_changes(&[]);
        changes.reverse();
        let ordered = causal_order(changes);
        let mut seen = BTreeSet::new();
        for c in &ordered {
            assert!(c.deps().iter().all(|d| seen.contains(d)), "a change before its dependency");
            seen.insert(c.hash());
        }
        assert_eq!(ordered.len(), 5);
    }
}
