//! Fast pushes of several phones to one document admitted together must store what admitting
//! them one after another stores, and give way to one at a time whenever one of them would be
//! refused or asked to resync.

use std::sync::Arc;

use automerge::{ActorId, Automerge, Change, ChangeHash};

use super::tests::{Server, award, award_by, fast_doc, phone, sync_until_quiet};
use super::*;
use crate::mapping;
use crate::testutil::sorted;

/// The server and two phones (of `cadre1` and `cadre2`) that synced with it, then each awarded
/// points offline; and the server's heads they know.
fn two_phones_offline() -> (Server, Automerge, Automerge, Vec<ChangeHash>) {
    let mut server = Server::new();
    let (mut one, mut two) = (phone("phone-1"), phone("phone-2"));
    sync_until_quiet(&mut server, "cadre1", &mut one).expect("sync");
    sync_until_quiet(&mut server, "cadre2", &mut two).expect("sync");
    let known = server.doc.get_heads();
    for n in 0..3 {
        award(&mut one, 100 + n, "volunteer", 2);
        award_by(&mut two, 200 + n, "honour", 5, "cadre2");
    }
    (server, one, two, known)
}

/// Admits `docs`, sent by `accounts`, together against the server's document.
fn together(server: &Server, accounts: &[&'static str], docs: &[FastDoc]) -> Option<Together> {
    let owners: Vec<_> = accounts.iter().map(|a| server.owner_for(a)).collect();
    let members: Vec<Member<'_>> = docs
        .iter()
        .zip(&owners)
        .zip(accounts)
        .map(|((doc, owner), account)| Member { doc, gate: server.gate_for(account, owner) })
        .collect();
    let base_read = Arc::new(mapping::read(&server.doc).expect("reads"));
    let known = receive_fast_together(&server.doc, Some(&base_read), &[], &members);
    let whole = receive_fast_together(&server.doc, None, &[], &members);
    assert_eq!(known.is_some(), whole.is_some(), "reading only what changed decides as reading everything");
    if let (Some(k), Some(w)) = (&known, &whole) {
        assert_eq!(sorted(&k.accepted.read), sorted(&w.accepted.read));
    }
    known
}

fn hashes(changes: &[ByteBufLike]) -> Vec<ChangeHash> {
    changes.iter().map(|c| Change::from_bytes(c.to_vec()).expect("change").hash()).collect()
}
type ByteBufLike = serde_bytes::ByteBuf;

#[test]
fn phones_pushing_together_are_admitted_as_one_as_one_after_the_other_would_be() {
    let (server, mut one, mut two, known) = two_phones_offline();
    let docs = [fast_doc(&one, &known), fast_doc(&two, &known)];
    let t = together(&server, &["cadre1", "cadre2"], &docs).expect("admitted together");

    // One after the other, as the server did before.
    let owner1 = server.owner_for("cadre1");
    let (first, _) =
        receive_fast(&server.doc, &docs[0], &server.gate_for("cadre1", &owner1)).expect("ok").expect("no resync");
    let owner2 = server.owner_for("cadre2");
    let (second, _) =
        receive_fast(&first.doc, &docs[1], &server.gate_for("cadre2", &owner2)).expect("ok").expect("no resync");
    assert_eq!(t.accepted.doc.get_heads(), second.doc.get_heads());
    assert_eq!(sorted(&t.accepted.read), sorted(&second.read));

    // Each member's share: its own changes, in order, and its actor bound to its account.
    assert_eq!(t.shares.iter().map(|s| s.changes).collect::<Vec<_>>(), [3, 3]);
    let stored: Vec<_> = t.accepted.changes.iter().map(Change::hash).collect();
    let sent: Vec<_> = [&one, &two].iter().flat_map(|p| p.get_changes(&known)).map(|c| c.hash()).collect();
    assert_eq!(stored, sent);
    assert_eq!(t.shares[0].bind, [ActorId::from(b"phone-1".as_slice())]);
    assert_eq!(t.shares[1].bind, [ActorId::from(b"phone-2".as_slice())]);

    // Each phone's reply brings the other's changes: both end where the server is.
    let sent_by = |p: &Automerge| p.get_changes(&known).iter().map(|c| c.hash()).collect::<Vec<_>>();
    let (from_one, from_two) = (sent_by(&one), sent_by(&two));
    for (phone, share, other) in [(&mut one, &t.shares[0], from_two), (&mut two, &t.shares[1], from_one)] {
        let FastOutcome::Synced { heads, changes } = &share.outcome else { panic!("synced") };
        assert_eq!(hashes(changes), other, "exactly the other's changes");
        phone.apply_changes(changes.iter().map(|c| Change::from_bytes(c.to_vec()).expect("change"))).expect("applies");
        assert_eq!(phone.get_heads(), t.accepted.doc.get_heads());
        assert_eq!(hashes_from_wire(heads).expect("heads"), t.accepted.doc.get_heads());
    }
}

#[test]
fn together_gives_way_to_one_at_a_time_when_any_would_be_refused_or_resync() {
    let (mut server, one, two, known) = two_phones_offline();
    let good = fast_doc(&one, &known);
    assert!(together(&server, &["cadre1", "cadre2"], &[good.clone(), fast_doc(&two, &known)]).is_some());

    // A rule broken by one of them.
    let mut bad = two.fork();
    award(&mut bad, 300, "volunteer", 9);
    assert!(together(&server, &["cadre1", "cadre2"], &[good.clone(), fast_doc(&bad, &known)]).is_none());

    // A change under an actor another account holds.
    server.owners.insert(ActorId::from(b"phone-2".as_slice()), "cadre1");
    assert!(together(&server, &["cadre1", "cadre2"], &[good.clone(), fast_doc(&two, &known)]).is_none());
    server.owners.remove(&ActorId::from(b"phone-2".as_slice()));

    // One actor new to two of them (phone 1's, going on on another account's phone after its
    // three changes): only one at a time can say whose it is.
    let mut twin = one.fork().with_actor(ActorId::from(b"phone-1".as_slice()));
    award_by(&mut twin, 400, "honour", 5, "cadre2");
    assert!(together(&server, &["cadre1", "cadre2"], &[good.clone(), fast_doc(&twin, &known)]).is_none());

    // An entry in the name of another member's account: each change is traced to its own push.
    let mut forging = one.fork();
    award_by(&mut forging, 600, "volunteer", 1, "cadre2");
    let forged = fast_doc(&forging, &known);
    assert!(together(&server, &["cadre1", "cadre2"], &[forged.clone(), fast_doc(&two, &known)]).is_none());
    let owner = server.owner_for("cadre1");
    let alone = receive_fast(&server.doc, &forged, &server.gate_for("cadre1", &owner)).expect_err("refused");
    assert!(matches!(&alone, Refusal::Invalid(v) if v.iter().all(|v| v.rule == crate::Rule::WrongAuthor)), "{alone:?}");

    // A phone that remembers the server wrongly.
    let mut stale = fast_doc(&two, &known);
    stale.changes.remove(0);
    assert!(together(&server, &["cadre1", "cadre2"], &[good.clone(), stale]).is_none());

    // Garbage.
    let mut garbage = fast_doc(&two, &known);
    garbage.changes.push(serde_bytes::ByteBuf::from(b"hello".to_vec()));
    assert!(together(&server, &["cadre1", "cadre2"], &[good, garbage]).is_none());
}

#[test]
fn a_change_two_phones_send_counts_once_for_the_first_that_sent_it() {
    let (server, one, _, known) = two_phones_offline();
    // Phone 1's changes reached another phone of the same account (a copy), which added its own.
    let mut copy = one.fork().with_actor(ActorId::from(b"phone-3".as_slice()));
    award(&mut copy, 500, "honour", 5);
    let t = together(&server, &["cadre1", "cadre1"], &[fast_doc(&one, &known), fast_doc(&copy, &known)])
        .expect("admitted together");
    assert_eq!(t.shares.iter().map(|s| s.changes).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(t.accepted.changes.len(), 4);
    // The other way round, the copy's sender is counted for phone 1's changes too: its own account.
    let t = together(&server, &["cadre1", "cadre1"], &[fast_doc(&copy, &known), fast_doc(&one, &known)])
        .expect("admitted together");
    assert_eq!(t.shares.iter().map(|s| s.changes).collect::<Vec<_>>(), [4, 0]);
}
