use std::collections::HashMap;

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge};

use super::*;
use crate::mapping::{self, WriteError};
use crate::testutil::*;
use crate::{Catalog, Collection, PointDelta, PointEntry, Rule, VillageId, Violation, Year};

pub(super) struct Server {
    pub(super) doc: Automerge,
    pub(super) catalog: Catalog,
    pub(super) owners: HashMap<ActorId, &'static str>,
}

impl Server {
    pub(super) fn new() -> Self {
        let village = village();
        let mut doc = mapping::genesis(&village.village_id, village.year);
        doc.set_actor(ActorId::from(b"server".as_slice()));
        doc.transact::<_, _, WriteError>(|tx| mapping::put_document(tx, &village)).expect("seed");
        let mut owners = HashMap::new();
        owners.insert(ActorId::from(b"server".as_slice()), "admin");
        Server { doc, catalog: Catalog::default(), owners }
    }

    pub(super) fn gate_for<'a>(
        &'a self,
        account: &'static str,
        owner: &'a (dyn Fn(&ActorId) -> Owner + Sync),
    ) -> Gate<'a> {
        Gate { village: vid(), year: year(), catalog: &self.catalog, account, owner }
    }

    /// Who each actor belongs to for `account`, by the bindings so far.
    pub(super) fn owner_for(&self, account: &'static str) -> impl Fn(&ActorId) -> Owner + Sync + use<> {
        let owners = self.owners.clone();
        move |a: &ActorId| match owners.get(a) {
            None => Owner::Unbound,
            Some(&o) if o == account => Owner::Caller,
            Some(_) => Owner::Other,
        }
    }

    fn receive(
        &mut self,
        account: &'static str,
        state: &mut sync::State,
        msg: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, Refusal> {
        let owner = self.owner_for(account);
        let gate = self.gate_for(account, &owner);
        // As the server does: with the base as read, so that only what the changes touch is read
        // again; and that decides and reads as reading everything does.
        let base_read = std::sync::Arc::new(mapping::read(&self.doc).expect("reads"));
        let step = receive_sync_known(&self.doc, Some(&base_read), state, &msg, &gate);
        let whole = receive_sync(&self.doc, state, &msg, &gate);
        let step = match (step, whole) {
            (Ok(step), Ok(whole)) => {
                assert_eq!(sorted(&step.accepted.read), sorted(&whole.accepted.read));
                assert_eq!(step.accepted.doc.get_heads(), whole.accepted.doc.get_heads());
                assert_eq!(step.reply, whole.reply);
                if step.accepted.changes.is_empty() {
                    assert!(std::sync::Arc::ptr_eq(&step.accepted.read, &base_read), "nothing new: nothing read");
                }
                step
            }
            (Err(known), Err(whole)) => {
                assert_eq!(known, whole);
                return Err(known);
            }
            (known, whole) => panic!("known: {:?}, whole: {:?}", known.map(|_| ()), whole.map(|_| ())),
        };
        for a in step.accepted.bind {
            self.owners.insert(a, account);
        }
        self.doc = step.accepted.doc;
        *state = step.state;
        Ok(step.reply)
    }
}

fn vid() -> &'static VillageId {
    static V: std::sync::OnceLock<VillageId> = std::sync::OnceLock::new();
    V.get_or_init(|| VillageId::parse("v1").expect("id"))
}
fn year() -> Year {
    Year::new(2026).expect("y")
}

pub(super) fn phone(actor: &str) -> Automerge {
    mapping::genesis(vid(), year()).with_actor(ActorId::from(actor.as_bytes()))
}

pub(super) fn award(doc: &mut Automerge, n: u128, rule: &str, delta: i64) {
    award_by(doc, n, rule, delta, "cadre1");
}

/// [`award`], made by the account `by`.
pub(super) fn award_by(doc: &mut Automerge, n: u128, rule: &str, delta: i64, by: &str) {
    let p = PointEntry {
        member_id: mid("v1-m01"),
        rule: code(rule),
        delta: PointDelta::new(delta).expect("delta"),
        on: d("2026-05-01"),
        note: None,
        by: account(by),
        voided: None,
    };
    doc.transact::<_, _, WriteError>(|tx| mapping::put_record_id(tx, Collection::Points, &rid(n), &p)).expect("edit");
}

/// Runs the standard protocol until both sides are quiet.
pub(super) fn sync_until_quiet(
    server: &mut Server,
    account: &'static str,
    phone: &mut Automerge,
) -> Result<(), Refusal> {
    let mut phone_state = sync::State::new();
    let mut server_state = sync::State::new();
    for _ in 0..20 {
        let Some(msg) = phone.generate_sync_message(&mut phone_state) else { return Ok(()) };
        if let Some(reply) = server.receive(account, &mut server_state, msg.encode())? {
            phone
                .receive_sync_message(&mut phone_state, sync::Message::decode(&reply).expect("decodes"))
                .expect("applies");
        }
    }
    panic!("sync did not settle");
}

#[test]
fn a_phone_syncs_to_the_same_document_as_the_server() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("first sync");
    award(&mut p, 100, "volunteer", 2);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("second sync");
    assert_eq!(p.get_heads(), server.doc.get_heads());
    assert_eq!(mapping::read(&p).expect("r").doc, mapping::read(&server.doc).expect("r").doc);
    assert_eq!(server.owners.get(&ActorId::from(b"phone-1".as_slice())), Some(&"cadre1"), "actor bound on first push");
}

#[test]
fn changes_under_another_accounts_actor_are_refused_and_nothing_is_stored() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    award(&mut p, 100, "volunteer", 2);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    // Someone else presents a change made under phone-1's actor.
    let mut thief = p.fork().with_actor(ActorId::from(b"phone-1".as_slice()));
    award(&mut thief, 101, "honour", 5);
    let before = server.doc.get_heads();
    let err = sync_until_quiet(&mut server, "cadre2", &mut thief).expect_err("refused");
    assert!(matches!(err, Refusal::ForeignActor { .. }), "{err:?}");
    assert!(err.to_string().contains("属于另一个账号"), "{err}");
    assert_eq!(server.doc.get_heads(), before);
}

#[test]
fn a_forged_genesis_is_refused() {
    let owner = |_: &ActorId| Owner::Unbound;
    let catalog = Catalog::default();
    let gate = Gate { village: vid(), year: year(), catalog: &catalog, account: "cadre1", owner: &owner };
    let mut forged = Automerge::new().with_actor(mapping::genesis_actor(vid(), year()));
    forged.transact::<_, _, WriteError>(|tx| mapping::put_at(tx, &["village_id"], "v1")).expect("forge");
    let doc = FastDoc {
        village: vid().clone(),
        year: year(),
        known: vec![],
        heads: hashes_to_wire(&forged.get_heads()),
        changes: forged.get_changes(&[]).iter().map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec())).collect(),
    };
    // A village whose document the server does not have yet.
    let err = receive_fast(&Automerge::new(), &doc, &gate).expect_err("refused");
    assert_eq!(err, Refusal::ForgedGenesis);
    // Where the real genesis is stored, Automerge itself refuses a second change 1 of that actor.
    let server = Server::new();
    assert!(matches!(receive_fast(&server.doc, &doc, &gate), Err(Refusal::Undecodable(_))));
}

#[test]
fn an_actor_named_like_a_genesis_may_not_write_the_root() {
    // A change by `zhibu-genesis/x`, not the genesis, making its own `cases` map: had it been
    // taken for the genesis's, the map would win over the one every phone writes into.
    let server = Server::new();
    let owner = server.owner_for("cadre1");
    let gate = server.gate_for("cadre1", &owner);
    for actor in ["zhibu-genesis/x", "zhibu-genesis/other-village/2026"] {
        let mut crafted = server.doc.fork().with_actor(ActorId::from(actor.as_bytes()));
        crafted
            .transact::<_, _, automerge::AutomergeError>(|tx| {
                automerge::transaction::Transactable::put_object(tx, automerge::ROOT, "cases", automerge::ObjType::Map)
            })
            .expect("craft");
        let doc = FastDoc {
            village: vid().clone(),
            year: year(),
            known: hashes_to_wire(&server.doc.get_heads()),
            heads: hashes_to_wire(&crafted.get_heads()),
            changes: crafted
                .get_changes(&server.doc.get_heads())
                .iter()
                .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
                .collect(),
        };
        let err = receive_fast(&server.doc, &doc, &gate).expect_err(actor);
        assert_eq!(err, Refusal::ForgedGenesis, "{actor}");
    }
}

#[test]
fn an_invalid_change_is_refused_with_the_record_and_rule_and_the_state_stays() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    award(&mut p, 100, "volunteer", 9);
    let before = server.doc.get_heads();
    let err = sync_until_quiet(&mut server, "cadre1", &mut p).expect_err("refused");
    let Refusal::Invalid(v) = &err else { panic!("{err:?}") };
    assert_eq!((v[0].record.clone(), v[0].rule), (rid(100).to_string(), Rule::DeltaOutOfRange));
    assert!(err.to_string().contains("「志愿服务、义务劳动」的分值应在 1 到 5 之间，这里是 9"), "{err}");
    assert_eq!(server.doc.get_heads(), before);
}

#[test]
fn a_rule_broken_before_does_not_block_later_edits() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "volunteer", 5);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    // The township narrows the rule afterwards: the old entry now breaks it.
    server.catalog.point_rules.iter_mut().filter(|r| r.code.as_str() == "volunteer").for_each(|r| r.max = 3);
    award(&mut p, 101, "honour", 5);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("unrelated edit still syncs");
    award(&mut p, 102, "volunteer", 4);
    assert!(matches!(sync_until_quiet(&mut server, "cadre1", &mut p), Err(Refusal::Invalid(_))));
}

#[test]
fn garbage_is_undecodable() {
    let server = Server::new();
    let owner = |_: &ActorId| Owner::Unbound;
    let gate = server.gate_for("cadre1", &owner);
    for bytes in [&b""[..], b"\x42", b"\x42\x00\x00", b"hello world"] {
        let err = receive_sync(&server.doc, &sync::State::new(), bytes, &gate).expect_err("garbage");
        assert!(matches!(err, Refusal::Undecodable(_)), "{bytes:?}: {err:?}");
    }
}

#[test]
fn the_fast_path_exchanges_both_sides_in_one_request() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let known = server.doc.get_heads();
    // Offline: the phone awards points; meanwhile the server got another phone's edit.
    award(&mut p, 100, "volunteer", 2);
    award(&mut p, 101, "honour", 6);
    let mut other = server.doc.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    award(&mut other, 102, "dues_late", -2);
    server.doc.merge(&mut other).expect("server has phone-2's edit");

    let request = FastRequest { v: FAST_VERSION, docs: vec![fast_doc(&p, &known)], catalog: None };
    let request = FastRequest::decode(&request.encode()).expect("round trip");
    let owner = |_: &ActorId| Owner::Unbound;
    let gate = server.gate_for("cadre1", &owner);
    let (accepted, outcome) = receive_fast(&server.doc, &request.docs[0], &gate).expect("ok").expect("not resync");
    assert_eq!(accepted.changes.len(), 2);
    let FastOutcome::Synced { heads, changes } = outcome else { panic!("synced") };
    assert_eq!(changes.len(), 1, "exactly the one change the phone lacks");
    p.apply_changes(changes.iter().map(|c| automerge::Change::from_bytes(c.to_vec()).expect("change")))
        .expect("applies");
    assert_eq!(p.get_heads(), accepted.doc.get_heads());
    assert_eq!(hashes_from_wire(&heads).expect("hashes"), accepted.doc.get_heads());
}

#[test]
fn the_fast_path_asks_for_a_resync_when_the_phone_remembers_wrongly() {
    let server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "volunteer", 2);
    let mut q = p.fork();
    award(&mut q, 101, "volunteer", 3);
    // The phone wrongly believes the server has its first edit and sends only the second.
    let doc = fast_doc(&q, &p.get_heads());
    let owner = |_: &ActorId| Owner::Unbound;
    let gate = server.gate_for("cadre1", &owner);
    assert!(receive_fast(&server.doc, &doc, &gate).expect("no refusal").is_none());
}

#[test]
fn the_fast_path_stores_each_new_change_once_in_causal_order_whatever_the_phone_sends() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let known = server.doc.get_heads();
    for n in 0..5 {
        award(&mut p, 200 + n, "volunteer", 2);
    }
    let mut changes: Vec<_> = p.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect();
    // Every change the phone has (most of them the server's already), newest first, twice.
    changes.reverse();
    changes.extend(changes.clone());
    let doc = FastDoc {
        village: vid().clone(),
        year: year(),
        known: hashes_to_wire(&known),
        heads: hashes_to_wire(&p.get_heads()),
        changes: changes.into_iter().map(serde_bytes::ByteBuf::from).collect(),
    };
    let owner = |_: &ActorId| Owner::Unbound;
    let gate = server.gate_for("cadre1", &owner);
    let (accepted, _) = receive_fast(&server.doc, &doc, &gate).expect("ok").expect("not resync");
    let stored: Vec<_> = accepted.changes.iter().map(automerge::Change::hash).collect();
    let expected: Vec<_> = p.get_changes(&known).iter().map(automerge::Change::hash).collect();
    assert_eq!(stored, expected, "the five new changes, oldest first, once each");
    let mut replay = server.doc.clone();
    for c in &accepted.changes {
        replay.apply_changes([c.clone()]).expect("applies");
        assert!(
            automerge::ReadDoc::get_missing_deps(&replay, &[]).is_empty(),
            "each change's dependencies came before it"
        );
    }
    assert_eq!(replay.get_heads(), p.get_heads());
}

/// A fast request of `phone` against a server it last saw at `known`, with every change it has
/// since.
pub(super) fn fast_doc(phone: &Automerge, known: &[automerge::ChangeHash]) -> FastDoc {
    FastDoc {
        village: vid().clone(),
        year: year(),
        known: hashes_to_wire(known),
        heads: hashes_to_wire(&phone.get_heads()),
        changes: phone.get_changes(known).iter().map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec())).collect(),
    }
}

#[test]
fn a_phone_that_only_pulls_is_answered_from_the_base_as_read_and_the_changes_as_received() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let known = server.doc.get_heads();
    let mut other = server.doc.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    for n in 0..3 {
        award(&mut other, 300 + n, "volunteer", 1);
    }
    let sent = other.get_changes(&known);
    server.doc.apply_changes(sent.clone()).expect("the server has phone-2's edits");
    let base_read = std::sync::Arc::new(mapping::read(&server.doc).expect("reads"));
    let owner = |_: &ActorId| Owner::Unbound;
    let gate = server.gate_for("cadre1", &owner);
    let lacking = |received: &[std::sync::Arc<automerge::Change>]| {
        let (accepted, outcome) =
            receive_fast_known(&server.doc, Some(&base_read), received, &fast_doc(&p, &known), &gate)
                .expect("ok")
                .expect("not resync");
        assert!(accepted.changes.is_empty());
        assert!(std::sync::Arc::ptr_eq(&accepted.read, &base_read), "nothing new: the base as read, not read again");
        let FastOutcome::Synced { changes, .. } = outcome else { panic!("synced") };
        changes.iter().map(|c| automerge::Change::from_bytes(c.to_vec()).expect("change").hash()).collect::<Vec<_>>()
    };
    let expected: Vec<_> = server.doc.get_changes(&known).iter().map(automerge::Change::hash).collect();
    assert_eq!(expected.len(), 3);
    let all: Vec<_> = sent.iter().cloned().map(std::sync::Arc::new).collect();
    assert_eq!(lacking(&all), expected, "taken from the changes as received, in the same order");
    assert_eq!(lacking(&all[1..]), expected, "one not kept: rebuilt from the document, all of them");
    assert_eq!(lacking(&[]), expected);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(lacking(&reversed), expected, "in the document's order, whatever the order they were kept in");
}

/// A standard message may bring a change whose dependency was in a message that was lost:
/// Automerge keeps it aside, waiting. The document the server stores (and keeps in memory)
/// must not keep it waiting: it made every change a later phone resent look new to the server
/// (refused as another account's, found by the convergence test), and every fast push ask for
/// a resync.
#[test]
fn a_change_waiting_for_its_dependency_is_not_kept_with_the_document() {
    use automerge::ReadDoc;
    let mut server = Server::new();
    let mut p1 = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p1).expect("first sync");
    let known = server.doc.get_heads();
    award(&mut p1, 400, "volunteer", 1);
    award(&mut p1, 401, "volunteer", 2);
    let [first, second] = &p1.get_changes(&known)[..] else { panic!("two changes") };
    // Only the second reaches the server, in a message of its own (the first one's was lost).
    let mut p1_state = sync::State::new();
    let mut message = p1.generate_sync_message(&mut p1_state).expect("a message");
    message.changes = vec![second.raw_bytes().to_vec()].into();
    let mut state = sync::State::new();
    server.receive("cadre1", &mut state, message.encode()).expect("accepted, the change set aside");
    assert!(
        server.doc.get_missing_deps(&[]).is_empty(),
        "nothing kept waiting: {:?}",
        server.doc.get_missing_deps(&[])
    );
    assert_eq!(server.doc.get_heads(), known, "the change without its dependency is not stored");

    // Another cadre's phone, holding what the server holds, resends it with an edit of its own.
    let mut p2 = server.doc.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    award_by(&mut p2, 500, "volunteer", 3, "cadre2");
    let owner = server.owner_for("cadre2");
    let gate = server.gate_for("cadre2", &owner);
    let genesis = mapping::genesis(vid(), year()).get_heads();
    let (accepted, _) =
        receive_fast(&server.doc, &fast_doc(&p2, &genesis), &gate).expect("not refused").expect("not resync");
    assert_eq!(accepted.changes.len(), 1, "only phone-2's edit is new");
    // And phone-1 gets both its changes stored when it sends them again.
    let (accepted, _) =
        receive_fast(&accepted.doc, &fast_doc(&p1, &known), &server.gate_for("cadre1", &|_: &ActorId| Owner::Caller))
            .expect("stored")
            .expect("not resync");
    assert_eq!(
        accepted.changes.iter().map(automerge::Change::hash).collect::<Vec<_>>(),
        vec![first.hash(), second.hash()]
    );
}

/// A change that deletes the key `key` of the map at `path` (from the root).
fn delete_at(doc: &mut Automerge, path: &[&str], key: &str) {
    use automerge::transaction::Transactable;
    doc.transact::<_, _, automerge::AutomergeError>(|tx| {
        let obj = object_at(tx, path)?;
        tx.delete(&obj, key)
    })
    .expect("edit");
}

/// The rules of the violations of a refused push, by record.
fn refused_rules(result: Result<(), Refusal>) -> Vec<(String, Rule)> {
    match result {
        Err(Refusal::Invalid(v)) => v.into_iter().map(|v| (v.record, v.rule)).collect(),
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[test]
fn records_are_voided_never_deleted_and_a_voided_record_stays_voided() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "volunteer", 3);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let entry = rid(100).to_string();

    // Deleting the entry, the whole collection, or a member from the roster is refused, and
    // nothing of it is stored (each attempt from the phone as synced).
    let stored = server.doc.get_heads();
    let mut deleting = p.fork();
    delete_at(&mut deleting, &["points"], &entry);
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut deleting));
    assert_eq!(rules, vec![(entry.clone(), Rule::Deleted)]);
    let mut wiping = p.fork();
    delete_at(&mut wiping, &[], "points");
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut wiping));
    assert!(rules.contains(&(entry.clone(), Rule::Deleted)), "{rules:?}");
    let mut removing = p.fork();
    delete_at(&mut removing, &["members"], "v1-m09");
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut removing));
    assert!(rules.contains(&("v1-m09".to_owned(), Rule::Deleted)), "{rules:?}");
    assert_eq!(server.doc.get_heads(), stored, "nothing deleted was stored");

    // Voiding is how an entry goes; once voided, it stays voided.
    p.transact::<_, _, WriteError>(|tx| {
        let voided = serde_json::json!({"reason": "重复录入", "by": "cadre1"});
        mapping::put_at(tx, &["points", &entry, "voided"], &voided)
    })
    .expect("void");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("voiding is accepted");
    let mut unvoiding = p.fork();
    delete_at(&mut unvoiding, &["points", &entry], "voided");
    let err = sync_until_quiet(&mut server, "cadre1", &mut unvoiding).expect_err("refused");
    assert!(err.to_string().contains("已作废的积分记录不能恢复"), "{err}");
    assert_eq!(refused_rules(Err(err)), vec![(entry, Rule::Unvoided)]);
}

#[test]
fn a_change_message_with_control_characters_is_refused_and_a_line_break_is_not() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let commit = |doc: &mut Automerge, message: &str, n: u128| {
        let e = PointEntry {
            member_id: mid("v1-m01"),
            rule: code("volunteer"),
            delta: PointDelta::new(1).expect("delta"),
            on: d("2026-05-01"),
            note: None,
            by: account("cadre1"),
            voided: None,
        };
        doc.transact_with::<_, _, WriteError, _>(
            |_| automerge::transaction::CommitOptions::default().with_message(message.to_owned()),
            |tx| mapping::put_record_id(tx, Collection::Points, &rid(n), &e),
        )
        .expect("edit");
    };
    let mut bad = p.fork();
    commit(&mut bad, "奖励\0积分", 100);
    let err = sync_until_quiet(&mut server, "cadre1", &mut bad).expect_err("refused");
    assert!(matches!(&err, Refusal::Undecodable(m) if m.contains("控制字符")), "{err:?}");
    commit(&mut p, "奖励积分\n志愿服务", 101);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("a line break is fine");
}

/// The fields and rules of the violations of a refused push, by record.
fn refused_fields(result: Result<(), Refusal>) -> Vec<(String, String, Rule)> {
    match result {
        Err(Refusal::Invalid(v)) => v.into_iter().map(|v| (v.record, v.field, v.rule)).collect(),
        other => panic!("not refused as invalid: {other:?}"),
    }
}

/// Writes `value` at `path` in `doc`, as a crafted phone may.
fn put(doc: &mut Automerge, path: &[&str], value: serde_json::Value) {
    doc.transact::<_, _, WriteError>(|tx| mapping::put_at(tx, path, &value)).expect("edit");
}

/// Writes `value` at `path` in `doc` as a map made anew, as a phone records again a step
/// another cadre recorded.
fn replace(doc: &mut Automerge, path: &[&str], value: serde_json::Value) {
    doc.transact::<_, _, WriteError>(|tx| mapping::replace_at(tx, path, &value)).expect("edit");
}

#[test]
fn two_cadres_recording_again_one_step_at_once_are_both_kept() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    let case = rid(4).to_string();
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    put(&mut p, &["cases", &case, "steps", "notice"], serde_json::json!({"done_on": "2026-02-10", "by": "cadre1"}));
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    // Two other cadres, offline, each record the step again, made anew under their own name,
    // while its maker adds a note to their own: all three are kept.
    let mut a = p.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    let mut b = p.fork().with_actor(ActorId::from(b"phone-3".as_slice()));
    replace(&mut a, &["cases", &case, "steps", "notice"], serde_json::json!({"done_on": "2026-02-11", "by": "cadre2"}));
    replace(&mut b, &["cases", &case, "steps", "notice"], serde_json::json!({"done_on": "2026-02-12", "by": "cadre3"}));
    put(&mut p, &["cases", &case, "steps", "notice", "note"], serde_json::json!("张贴于村务公开栏"));
    sync_until_quiet(&mut server, "cadre3", &mut b).expect("the first is stored");
    sync_until_quiet(&mut server, "cadre2", &mut a).expect("the second is stored too");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("the maker's note into their own step is stored");
    let shown = mapping::read(&server.doc).expect("reads").doc.cases[&rid(4)].steps[&code("notice")].clone();
    assert!([account("cadre2"), account("cadre3")].contains(&shown.by), "{shown:?}");
    // Nor may the steps, or the case that holds them, be deleted or made anew around them.
    let mut d = phone("phone-5");
    sync_until_quiet(&mut server, "cadre1", &mut d).expect("sync");
    delete_at(&mut d, &["cases", &case], "steps");
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut d));
    assert_eq!(fields, [(case.clone(), "steps".to_owned(), Rule::WrongAuthor)]);
    let mut e = phone("phone-6");
    sync_until_quiet(&mut server, "cadre1", &mut e).expect("sync");
    let whole = serde_json::to_value(&mapping::read(&e).expect("reads").doc.cases[&rid(4)]).expect("json");
    let mut whole = whole;
    whole["steps"] = serde_json::json!({});
    replace(&mut e, &["cases", &case], whole);
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut e));
    assert_eq!(fields, [(case.clone(), "".to_owned(), Rule::WrongAuthor)]);
    // Deleting another's step is not recording it again.
    let mut c = phone("phone-4");
    sync_until_quiet(&mut server, "cadre1", &mut c).expect("sync");
    delete_at(&mut c, &["cases", &case, "steps"], "notice");
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut c));
    assert_eq!(fields, [(case, "steps.notice".to_owned(), Rule::WrongAuthor)]);
}

/// A cadre cannot take another's point entry over, by writing their own name into it or by
/// making it anew under it: the township would read another's deduction, moved to another
/// member, as theirs, and the maker's entry would be gone without a void. Nor may they replace
/// another's void. The entry's maker still may, and anyone may void it.
#[test]
fn another_cadres_entry_cannot_be_taken_over() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "dues_late", -2);
    let entry = rid(100).to_string();
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let stored = server.doc.get_heads();
    let q = p.fork().with_actor(ActorId::from(b"phone-2".as_slice()));

    let mut signing = q.fork();
    put(&mut signing, &["points", &entry, "by"], serde_json::json!("cadre2"));
    put(&mut signing, &["points", &entry, "member_id"], serde_json::json!("v1-m02"));
    let err = sync_until_quiet(&mut server, "cadre2", &mut signing).expect_err("refused");
    assert!(err.to_string().contains("这条记录由 cadre1 记录，账号 cadre2 不能改为自己记录的"), "{err}");
    assert_eq!(refused_fields(Err(err)), [(entry.clone(), "by".to_owned(), Rule::WrongAuthor)]);

    let mut remaking = q.fork();
    let mut other = serde_json::to_value(&mapping::read(&p).expect("reads").doc.points[&rid(100)]).expect("json");
    other["by"] = serde_json::json!("cadre2");
    other["member_id"] = serde_json::json!("v1-m02");
    replace(&mut remaking, &["points", &entry], other);
    let err = sync_until_quiet(&mut server, "cadre2", &mut remaking).expect_err("refused");
    assert!(err.to_string().contains("不能替换或删除它"), "{err}");
    assert_eq!(refused_fields(Err(err)), [(entry.clone(), "".to_owned(), Rule::WrongAuthor)]);
    assert_eq!(server.doc.get_heads(), stored, "nothing of it was stored");

    // Nor by deleting its `by` first, in the same change that makes it anew.
    let mut unsigning = q.fork();
    unsigning
        .transact::<_, _, WriteError>(|tx| {
            use automerge::transaction::Transactable;
            let record = object_at(tx, &["points", &entry]).expect("entry");
            tx.delete(&record, "by")?;
            mapping::replace_at(tx, &["points", &entry], &serde_json::json!({"member_id": "v1-m02", "rule": "dues_late", "delta": -2, "on": "2026-05-01", "by": "cadre2"}))
        })
        .expect("edit");
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre2", &mut unsigning));
    assert!(fields.contains(&(entry.clone(), "".to_owned(), Rule::WrongAuthor)), "{fields:?}");
    assert_eq!(server.doc.get_heads(), stored, "nothing of it was stored");

    // Its maker may make it anew; anyone may void it, but no one replace another's void.
    replace(
        &mut p,
        &["points", &entry],
        serde_json::json!({"member_id": "v1-m01", "rule": "dues_late", "delta": -2, "on": "2026-05-01", "by": "cadre1"}),
    );
    put(&mut p, &["points", &entry, "voided"], serde_json::json!({"reason": "重复录入", "by": "cadre1"}));
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("the maker's");
    let mut voiding = phone("phone-3");
    sync_until_quiet(&mut server, "cadre2", &mut voiding).expect("sync");
    replace(&mut voiding, &["points", &entry, "voided"], serde_json::json!({"reason": "另一个原因", "by": "cadre2"}));
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre2", &mut voiding));
    assert_eq!(fields, [(entry, "voided".to_owned(), Rule::WrongAuthor)]);
}

/// A cadre edits their own entry offline (a field, or a text in place as a JavaScript client
/// does) while another cadre, also offline, takes it over: the takeover is refused, the edit
/// kept. A cadre it never belonged to is refused as before.
#[test]
fn a_cadre_editing_their_own_entry_while_another_takes_it_over_is_kept() {
    use automerge::ObjType;
    use automerge::transaction::Transactable;
    let mut server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "volunteer", 3);
    let entry = rid(100).to_string();
    p.transact::<_, _, automerge::AutomergeError>(|tx| {
        let record = object_at(tx, &["points", &entry])?;
        let note = tx.put_object(&record, "note", ObjType::Text)?;
        tx.splice_text(&note, 0, 0, "原来的说明")
    })
    .expect("edit");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");

    let mut other = p.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    let mut stranger = p.fork().with_actor(ActorId::from(b"phone-3".as_slice()));
    put(&mut other, &["points", &entry], serde_json::json!({"by": "cadre2", "on": "2026-05-02"}));
    // Cadre 1 changes the delta and edits the note's text, writing no `by`.
    put(&mut p, &["points", &entry, "delta"], serde_json::json!(4));
    p.transact::<_, _, automerge::AutomergeError>(|tx| {
        let note = object_at(tx, &["points", &entry, "note"])?;
        tx.splice_text(&note, 0, 3, "补充的")
    })
    .expect("edit");
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre2", &mut other));
    assert_eq!(fields, [(entry.clone(), "by".to_owned(), Rule::WrongAuthor)]);
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("the owner's edit is stored");
    let shown = |key: &str| {
        let record = object_at(&server.doc, &["points", &entry]).expect("entry");
        mapping::string_at(&server.doc, &record, key)
    };
    assert_eq!(shown("by").as_deref(), Some("cadre1"));
    assert_eq!(shown("note").as_deref(), Some("补充的说明"));

    // A third cadre, who saw the entry as cadre 1's, never owned it.
    put(&mut stranger, &["points", &entry, "delta"], serde_json::json!(5));
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre3", &mut stranger));
    assert_eq!(fields, [(entry, "delta".to_owned(), Rule::WrongAuthor)]);
}

/// Two phones, offline, each make a valid edit, and the two together break a rule of the
/// records: the second phone to push never saw the first's edit and cannot correct it, so its
/// push is stored, not refused with every other edit it holds. What a phone breaks itself is
/// refused as before.
#[test]
fn a_rule_broken_only_where_two_phones_edits_meet_is_not_the_second_phones_doing() {
    let mut server = Server::new();
    let mut a = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    let mut b = a.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    let meeting = rid(1).to_string();
    // A: the member left on 27 November, and was present after all; B: the member came on
    // 30 November, and made the meeting up (field by field, as a JavaScript client writes).
    put(&mut a, &["members", "v1-m05", "left_on"], serde_json::json!("2026-11-27"));
    put(&mut a, &["meetings", &meeting, "attendance", "v1-m11", "status"], serde_json::json!("present"));
    put(&mut b, &["members", "v1-m05", "arrived_on"], serde_json::json!("2026-11-30"));
    put(&mut b, &["meetings", &meeting, "attendance", "v1-m11", "makeup_on"], serde_json::json!("2026-03-20"));
    award_by(&mut b, 100, "volunteer", 2, "cadre2");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("the first is stored");
    sync_until_quiet(&mut server, "cadre2", &mut b).expect("the second is stored too, with its other edits");
    let rules: Vec<Rule> = crate::validate(&mapping::read(&server.doc).expect("reads").doc, &Catalog::default())
        .iter()
        .map(|v| v.rule)
        .collect();
    assert!(rules.contains(&Rule::DateOrder) && rules.contains(&Rule::MakeupWhilePresent), "{rules:?}");
    assert!(mapping::read(&server.doc).expect("reads").doc.points.contains_key(&rid(100)));

    // A phone that breaks a rule itself is refused as before.
    let mut c = phone("phone-3");
    sync_until_quiet(&mut server, "cadre1", &mut c).expect("sync");
    put(&mut c, &["members", "v1-m06", "left_on"], serde_json::json!("1970-01-01"));
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut c));
    assert!(rules.iter().all(|(record, _)| record == "v1-m06") && !rules.is_empty(), "{rules:?}");
}

/// Two texts edited in place at once (as Automerge's `updateText` does; here one account's two
/// actors, the second on old dependencies, as an attacker would) merge character by character
/// into `2026-03-0407`, a value no one can read. Such a record would drop out of every figure and
/// out of the checks that records are never deleted or un-voided, so it is refused, never
/// forgiven as the merge's: the voided meeting stays voided and stays in the document.
#[test]
fn a_value_made_unreadable_by_a_merge_is_refused_so_no_record_drops_out() {
    use automerge::ObjType;
    use automerge::transaction::Transactable;
    let mut server = Server::new();
    let mut a = phone("phone-1");
    let meeting = rid(1).to_string();
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    a.transact::<_, _, automerge::AutomergeError>(|tx| {
        let record = object_at(tx, &["meetings", &meeting])?;
        let held = tx.put_object(&record, "held_on", ObjType::Text)?;
        tx.splice_text(&held, 0, 0, "2026-03-06")
    })
    .expect("edit");
    put(&mut a, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "重复录入", "by": "cadre1"}));
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    let stored = server.doc.get_heads();
    let mut b = a.fork().with_actor(ActorId::from(b"phone-1b".as_slice()));
    let edit = |doc: &mut Automerge, day: &str| {
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            let held = object_at(tx, &["meetings", &meeting, "held_on"])?;
            tx.splice_text(&held, 8, 2, day)
        })
        .expect("edit");
    };
    edit(&mut a, "07");
    edit(&mut b, "04");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("the first is stored");
    let after_first = server.doc.get_heads();
    assert_ne!(after_first, stored);
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut b));
    assert_eq!(rules, [(meeting.clone(), Rule::BadValue)]);
    assert_eq!(server.doc.get_heads(), after_first, "nothing of it stored");
    let read = mapping::read(&server.doc).expect("reads");
    assert!(read.doc.meetings[&rid(1)].voided.is_some(), "still read, still voided");
}

/// A limit of the whole document (at most 1,000 members) cannot be passed in slices, each
/// pushed on the same old heads and each under it alone.
#[test]
fn a_limit_of_the_whole_document_cannot_be_passed_in_slices() {
    let mut server = Server::new();
    let mut a = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    let mut b = a.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    for (doc, slice) in [(&mut a, "x"), (&mut b, "y")] {
        doc.transact::<_, _, WriteError>(|tx| {
            for n in 0..600 {
                let member = serde_json::json!({"name": format!("党员{slice}{n}"), "status": "full"});
                mapping::put_at(tx, &["members", &format!("v1-{slice}{n}")], &member)?;
            }
            Ok(())
        })
        .expect("edit");
    }
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("600 more is under the limit");
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre1", &mut b));
    assert!(rules.iter().any(|(_, rule)| *rule == Rule::TooMany), "{rules:?}");
}

#[test]
fn a_member_made_again_where_another_was_made_meanwhile_is_refused() {
    let mut server = Server::new();
    let mut a = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    let mut b = a.fork().with_actor(ActorId::from(b"phone-2".as_slice()));
    let member = serde_json::json!({"name": "赵新民", "status": "full"});
    // Both phones, offline, start the same member (a carry-over, an import on the server, a
    // roster add with the same id): the first stored stays.
    put(&mut a, &["members", "v1-m20"], member.clone());
    put(&mut b, &["members", "v1-m20"], serde_json::json!({"name": "钱新民", "status": "full"}));
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("the first is stored");
    let stored = server.doc.get_heads();
    let rules = refused_rules(sync_until_quiet(&mut server, "cadre2", &mut b));
    assert_eq!(rules, [("v1-m20".to_owned(), Rule::Duplicate)]);
    assert_eq!(server.doc.get_heads(), stored, "nothing of it stored");
    // Changing the member made first is an ordinary edit.
    let mut c = a.fork().with_actor(ActorId::from(b"phone-3".as_slice()));
    put(&mut c, &["members", "v1-m20", "group"], serde_json::json!("第一党小组"));
    sync_until_quiet(&mut server, "cadre2", &mut c).expect("an edit of it is stored");
}

#[test]
fn an_entry_names_the_account_whose_phone_made_it() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let stored = server.doc.get_heads();
    let (entry, meeting, case) = (rid(3).to_string(), rid(1).to_string(), rid(4).to_string());

    // Cadre 1's phone writing in cadre 2's name: a new entry, a void, a case step.
    let mut forging = p.fork();
    award_by(&mut forging, 100, "volunteer", 2, "cadre2");
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut forging));
    assert_eq!(fields, [(rid(100).to_string(), "by".to_owned(), Rule::WrongAuthor)]);
    let mut forging = p.fork();
    put(&mut forging, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "录错", "by": "cadre2"}));
    let err = sync_until_quiet(&mut server, "cadre1", &mut forging).expect_err("refused");
    assert!(err.to_string().contains("记录人只能是提交修改的账号 cadre1，不能写成 cadre2"), "{err}");
    assert_eq!(refused_fields(Err(err)), [(meeting.clone(), "voided.by".to_owned(), Rule::WrongAuthor)]);
    let mut forging = p.fork();
    put(
        &mut forging,
        &["cases", &case, "steps", "notice"],
        serde_json::json!({"done_on": "2026-02-10", "by": "cadre2"}),
    );
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut forging));
    assert_eq!(fields, [(case.clone(), "steps.notice.by".to_owned(), Rule::WrongAuthor)]);
    // Nor may it make an entry someone else's after the fact.
    let mut rewriting = p.fork();
    put(&mut rewriting, &["points", &entry, "by"], serde_json::json!("cadre2"));
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre1", &mut rewriting));
    assert_eq!(fields, [(entry.clone(), "by".to_owned(), Rule::WrongAuthor)]);
    assert_eq!(server.doc.get_heads(), stored, "nothing in another's name was stored");

    // In its own name, all of it is stored; so is cadre 2's phone completing again a step cadre
    // 1 completed (made anew: the step is now cadre 2's), and voiding cadre 1's entry.
    award(&mut p, 100, "volunteer", 2);
    put(&mut p, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "录错", "by": "cadre1"}));
    put(&mut p, &["cases", &case, "steps", "notice"], serde_json::json!({"done_on": "2026-02-10", "by": "cadre1"}));
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("in its own name");
    let mut q = phone("phone-2");
    sync_until_quiet(&mut server, "cadre2", &mut q).expect("sync");
    let stored = server.doc.get_heads();
    // But not change what cadre 1's entry, step or void says.
    for (path, value, field) in [
        (vec!["points", &entry, "delta"], serde_json::json!(4), "delta"),
        (vec!["points", &entry, "note"], serde_json::json!("改了别人的记录"), "note"),
        (vec!["cases", &case, "steps", "notice", "done_on"], serde_json::json!("2026-02-12"), "steps.notice.done_on"),
        (vec!["meetings", &meeting, "voided", "reason"], serde_json::json!("另一个原因"), "voided.reason"),
    ] {
        let mut r = q.fork();
        put(&mut r, &path, value);
        let fields = refused_fields(sync_until_quiet(&mut server, "cadre2", &mut r));
        let record = path[1].to_owned();
        assert_eq!(fields, [(record, field.to_owned(), Rule::WrongAuthor)], "{path:?}");
    }
    assert_eq!(server.doc.get_heads(), stored, "nothing of it was stored");
    replace(&mut q, &["cases", &case, "steps", "notice"], serde_json::json!({"done_on": "2026-02-11", "by": "cadre2"}));
    put(&mut q, &["points", &entry, "voided"], serde_json::json!({"reason": "重复录入", "by": "cadre2"}));
    sync_until_quiet(&mut server, "cadre2", &mut q).expect("its own step, and a void of its own");
    let read = mapping::read(&server.doc).expect("reads").doc;
    assert_eq!(read.cases[&rid(4)].steps[&code("notice")].by, account("cadre2"));
    assert_eq!(read.points[&rid(3)].by, account("cadre1"));
    assert_eq!(read.points[&rid(3)].voided.as_ref().map(|v| &v.by), Some(&account("cadre2")));
}

#[test]
fn a_name_written_as_text_cannot_be_edited_into_another() {
    use automerge::ObjType;
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    // JavaScript Automerge writes strings as text: a `by` made so by cadre 1's phone.
    let mut server = Server::new();
    let mut p = phone("phone-1");
    award(&mut p, 100, "volunteer", 2);
    let entry = rid(100).to_string();
    p.transact::<_, _, automerge::AutomergeError>(|tx| {
        let points = tx.get(automerge::ROOT, "points")?.expect("points").1;
        let record = tx.get(&points, entry.as_str())?.expect("entry").1;
        let by = tx.put_object(&record, "by", ObjType::Text)?;
        tx.splice_text(&by, 0, 0, "cadre1")
    })
    .expect("edit");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("its own name, as text");

    // Cadre 2's phone edits the text in place, character by character.
    let edit = |server: &mut Server, name: &str| {
        let mut q = phone("phone-2").with_actor(ActorId::random());
        sync_until_quiet(server, "cadre2", &mut q).expect("sync");
        q.transact::<_, _, automerge::AutomergeError>(|tx| {
            let points = tx.get(automerge::ROOT, "points")?.expect("points").1;
            let record = tx.get(&points, entry.as_str())?.expect("entry").1;
            let by = tx.get(&record, "by")?.expect("by").1;
            tx.splice_text(&by, 0, 6, name)
        })
        .expect("edit");
        sync_until_quiet(server, "cadre2", &mut q)
    };
    let err = edit(&mut server, "cadre3").expect_err("into a third account's name: refused");
    assert!(err.to_string().contains("记录人只能是提交修改的账号 cadre2，不能写成 cadre3"), "{err}");
    assert_eq!(refused_fields(Err(err)), [(entry.clone(), "by".to_owned(), Rule::WrongAuthor)]);
    let err = edit(&mut server, "cadre2").expect_err("into its own name: taking cadre 1's entry over, refused");
    assert!(err.to_string().contains("这条记录由 cadre1 记录，账号 cadre2 不能改为自己记录的"), "{err}");
    assert_eq!(mapping::read(&server.doc).expect("reads").doc.points[&rid(100)].by, account("cadre1"));
}

/// The object at a path of map keys from the root.
fn object_at(doc: &impl automerge::ReadDoc, path: &[&str]) -> Result<automerge::ObjId, automerge::AutomergeError> {
    let mut obj = automerge::ROOT;
    for key in path {
        obj = doc.get(&obj, *key)?.expect("path").1;
    }
    Ok(obj)
}

/// A JavaScript client writes every string as text, and edits a text in place: another account
/// may not edit so what an entry, a step or a void says, any more than by writing its key.
#[test]
fn another_accounts_words_written_as_text_cannot_be_edited_in_place() {
    use automerge::ObjType;
    use automerge::transaction::Transactable;
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    award(&mut p, 100, "volunteer", 2);
    let (entry, meeting) = (rid(100).to_string(), rid(1).to_string());
    put(&mut p, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "录错", "by": "cadre1"}));
    // Cadre 1's phone writes the entry's note and the void's reason as text.
    let texts: [&[&str]; 2] = [&["points", &entry, "note"], &["meetings", &meeting, "voided", "reason"]];
    for path in texts {
        p.transact::<_, _, automerge::AutomergeError>(|tx| {
            let obj = object_at(tx, &path[..path.len() - 1])?;
            let text = tx.put_object(&obj, path[path.len() - 1], ObjType::Text)?;
            tx.splice_text(&text, 0, 0, "原来的说明")
        })
        .expect("edit");
    }
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("its own words, as text");

    let edit = |server: &mut Server, account: &'static str, path: &[&str]| {
        let mut q = phone("phone-2").with_actor(ActorId::random());
        sync_until_quiet(server, account, &mut q).expect("sync");
        q.transact::<_, _, automerge::AutomergeError>(|tx| {
            let text = object_at(tx, path)?;
            tx.splice_text(&text, 0, 2, "改过的")
        })
        .expect("edit");
        sync_until_quiet(server, account, &mut q)
    };
    let stored = server.doc.get_heads();
    for (path, field) in [(texts[0], "note"), (texts[1], "voided.reason")] {
        let err = edit(&mut server, "cadre2", path).expect_err("another's words: refused");
        assert!(err.to_string().contains("这条记录由 cadre1 记录，账号 cadre2 不能修改其内容"), "{err}");
        assert_eq!(refused_fields(Err(err)), [(path[1].to_owned(), field.to_owned(), Rule::WrongAuthor)]);
    }
    assert_eq!(server.doc.get_heads(), stored, "nothing of it was stored");
    for path in texts {
        edit(&mut server, "cadre1", path).expect("its own words");
    }
    let read = mapping::read(&server.doc).expect("reads").doc;
    assert_eq!(read.points[&rid(100)].note.as_ref().map(|n| n.as_str()), Some("改过的的说明"));
}

/// A phone that makes its own collection map at the root (a client that started a year without
/// the genesis) would hide everyone's records behind whichever map wins: refused, and so is
/// any other write or deletion of the root's keys.
#[test]
fn the_roots_keys_are_the_genesis_changes_alone() {
    use automerge::transaction::Transactable;
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let stored = server.doc.get_heads();
    type Edit = fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>;
    let edits: [(&str, Edit); 3] = [
        ("points", |tx| tx.put_object(automerge::ROOT, "points", automerge::ObjType::Map).map(|_| ())),
        ("year", |tx| tx.put(automerge::ROOT, "year", 2027_i64)),
        ("members", |tx| tx.delete(automerge::ROOT, "members")),
    ];
    for (what, edit) in edits {
        let mut q = p.fork();
        q.transact::<_, _, automerge::AutomergeError>(edit).expect("edit");
        let err = sync_until_quiet(&mut server, "cadre1", &mut q).expect_err("refused");
        let Refusal::Invalid(v) = &err else { panic!("{err:?}") };
        let genesis_only =
            |v: &Violation| v.rule == Rule::Header && v.field == what && v.message.contains("（genesis）写定");
        assert!(v.iter().any(genesis_only), "{what}: {v:?}");
    }
    assert_eq!(server.doc.get_heads(), stored, "nothing of it was stored");
}

/// A name hidden as the losing side of a conflict shows nowhere when it is pushed, but a later
/// push that deletes the winner brings it to light: it is refused when written.
#[test]
fn a_name_hidden_in_a_conflict_is_refused_when_written() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre2", &mut p).expect("sync");
    let meeting = rid(1).to_string();
    // Two actors of cadre 2 from the same state: one voids the meeting with `null` (read as
    // not voided), the other in cadre 1's name; whichever wins, the name is written.
    let mut x = p.fork().with_actor(ActorId::from(b"phone-z".as_slice()));
    let mut y = p.fork().with_actor(ActorId::from(b"phone-y".as_slice()));
    x.transact::<_, _, automerge::AutomergeError>(|tx| {
        use automerge::ReadDoc;
        use automerge::transaction::Transactable;
        let meetings = tx.get(automerge::ROOT, "meetings")?.expect("meetings").1;
        let record = tx.get(&meetings, meeting.as_str())?.expect("meeting").1;
        tx.put(&record, "voided", automerge::ScalarValue::Null)
    })
    .expect("edit");
    put(&mut y, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "录错", "by": "cadre1"}));
    y.merge(&mut x).expect("merge");
    let shown = mapping::read(&y).expect("reads").doc;
    assert!(shown.meetings[&rid(1)].voided.is_none(), "the name is hidden: the null wins");
    let stored = server.doc.get_heads();
    let fields = refused_fields(sync_until_quiet(&mut server, "cadre2", &mut y));
    assert_eq!(fields, [(meeting, "voided.by".to_owned(), Rule::WrongAuthor)]);
    assert_eq!(server.doc.get_heads(), stored);
}

#[test]
fn a_push_full_of_forged_names_is_refused_in_few_words() {
    let mut server = Server::new();
    let mut p = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut p).expect("sync");
    let meeting = rid(1).to_string();
    put(&mut p, &["meetings", &meeting, "voided"], serde_json::json!({"reason": "录错", "by": "x".repeat(5000)}));
    for n in 0..200 {
        award_by(&mut p, 1000 + n, "volunteer", 1, "cadre2");
    }
    let err = sync_until_quiet(&mut server, "cadre1", &mut p).expect_err("refused");
    let Refusal::Invalid(violations) = &err else { panic!("{err:?}") };
    let forged: Vec<_> = violations.iter().filter(|v| v.rule == Rule::WrongAuthor).collect();
    assert_eq!(forged.len(), 50, "one refusal names at most 50 forged names");
    assert!(forged.iter().all(|v| v.message.chars().count() < 120), "{forged:?}");
}

/// API.md: numbers may arrive as int, uint or f64 scalars holding a whole number, and readers
/// accept all three (Kotlin's Long, Swift's UInt, JavaScript's numbers).
#[test]
fn a_point_entry_whose_delta_is_a_uint_or_a_float_is_stored() {
    use automerge::ScalarValue;
    use automerge::transaction::Transactable;
    let mut server = Server::new();
    let mut a = phone("phone-1");
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("sync");
    for (n, delta) in [(7u128, ScalarValue::Uint(2)), (8, ScalarValue::F64(4.0))] {
        award(&mut a, n, "volunteer", 3);
        let entry = rid(n).to_string();
        a.transact::<_, _, automerge::AutomergeError>(|tx| {
            let record = object_at(tx, &["points", &entry])?;
            tx.put(&record, "delta", delta.clone())
        })
        .expect("edit");
    }
    sync_until_quiet(&mut server, "cadre1", &mut a).expect("stored");
    let read = mapping::read(&server.doc).expect("reads").doc;
    assert_eq!(read.points[&rid(7)].delta.get(), 2);
    assert_eq!(read.points[&rid(8)].delta.get(), 4);
}
