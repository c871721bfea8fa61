//! A change that reaches the server before the change it depends on.
//!
//! The server keeps no document between requests: a change it cannot apply yet (its
//! dependency has not arrived) is dropped with the request. The phone's sync state, though,
//! says the change was sent, and Automerge does not send a change twice in one session. Unless
//! the server tells the phone to forget what it sent, the sync never settles: the server keeps
//! asking for the dependency, then for the dropped change, and the phone keeps sending neither.
//! This happens when the server's Bloom filter falsely claims the dependency (found by the
//! cut-off tests in `tests/tests/cutoff.rs`, where every resumed sync starts a fresh filter).

use automerge::sync::{self, BloomFilter, ChunkList, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash};
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::sync::{Gate, Owner, receive_sync};
use zhibu_schema::{AccountId, Catalog, Code, Collection, MemberId, PointDelta, PointEntry, RecordId, VillageId, Year};

fn award(doc: &mut Automerge, village: &VillageId, year: Year, n: usize) {
    let p = PointEntry {
        member_id: MemberId::parse(&format!("{village}-m{:02}", n + 1)).expect("id"),
        rule: Code::parse("volunteer").expect("code"),
        delta: PointDelta::new(1).expect("delta"),
        on: year.first_day(),
        note: None,
        by: AccountId::parse("cadre1").expect("id"),
        voided: None,
    };
    doc.transact::<_, _, WriteError>(|tx| mapping::put_record_id(tx, Collection::Points, &RecordId::new_v7(), &p))
        .expect("edit");
}

/// The server's document (a roster entered one member at a time, enough changes that the
/// phone's are sent as changes, not as the whole document) and a phone forked from it that
/// awarded two points offline; the second award depends on the first.
fn server_and_phone(village: &VillageId, year: Year) -> (Automerge, Automerge) {
    let mut server = mapping::genesis(village, year).with_actor(ActorId::from(b"server".as_slice()));
    let roster = zhibu_schema::sample::roster(village, year, 12, 1);
    for (id, m) in &roster.members {
        server
            .transact::<_, _, WriteError>(|tx| mapping::put_record(tx, Collection::Members, id.as_str(), m))
            .expect("member");
    }
    let mut phone = server.fork().with_actor(ActorId::from(b"phone".as_slice()));
    award(&mut phone, village, year, 0);
    award(&mut phone, village, year, 1);
    (server, phone)
}

/// Syncs the phone with a stateless server for at most `rounds` messages; `tamper` may change
/// each message before the server reads it, `claim` each reply before the phone reads it.
fn sync_statelessly(
    (village, year): (&VillageId, Year),
    server: &mut Automerge,
    phone: &mut Automerge,
    rounds: usize,
    mut tamper: impl FnMut(&mut sync::Message),
    mut claim: impl FnMut(&Automerge, &mut sync::Message),
) {
    let catalog = Catalog::default();
    let owner = |_: &ActorId| Owner::Caller;
    let gate = Gate { village, year, catalog: &catalog, account: "cadre1", owner: &owner };
    let (mut phone_state, mut server_state) = (sync::State::new(), sync::State::new());
    for _ in 0..rounds {
        let Some(mut msg) = phone.generate_sync_message(&mut phone_state) else { break };
        tamper(&mut msg);
        let step = receive_sync(server, &server_state, &msg.encode(), &gate).expect("admitted");
        // What a stateless server keeps: the applied changes and the encoded state only.
        let stored = step.accepted.doc.save();
        *server = Automerge::load(&stored).expect("load").with_actor(ActorId::from(b"server".as_slice()));
        server_state = sync::State::decode(&step.state.encode()).expect("state");
        if let Some(reply) = step.reply {
            let mut reply = sync::Message::decode(&reply).expect("reply");
            claim(server, &mut reply);
            phone.receive_sync_message(&mut phone_state, reply).expect("apply");
        }
    }
}

#[test]
fn a_change_that_arrives_before_its_dependency_is_sent_again() {
    let (village, year) = (VillageId::parse("v1").expect("id"), Year::new(2025).expect("year"));
    let (mut server, mut phone) = server_and_phone(&village, year);
    let second = phone.get_last_local_change().expect("the second edit").clone();
    let mut tampered = false;
    let tamper = |msg: &mut sync::Message| {
        if !tampered && !msg.changes.is_empty() {
            // The first message with changes loses the first edit: only the second, which
            // depends on it, arrives.
            msg.changes = ChunkList::from(second.raw_bytes().to_vec());
            tampered = true;
        }
    };
    sync_statelessly((&village, year), &mut server, &mut phone, 12, tamper, |_, _| {});
    assert!(tampered, "the exchange carried changes");
    assert_eq!(server.get_heads(), phone.get_heads(), "the sync settles with both edits on the server");
}

/// Automerge's Bloom filters claim about one change in a hundred that the sender does not have.
/// When the server's filter claims the phone's first edit, the phone sends only the second; the
/// server cannot apply it and drops it, its document and so its filter stay the same, and every
/// later filter makes the same false claim. The server must ask for the first edit by name:
/// asking for the phone's heads (the second edit) again, as Automerge would without the change
/// it dropped, loops for ever (this test failed about once in a hundred runs of the one above).
#[test]
fn a_dependency_the_servers_filter_falsely_claims_is_asked_for_by_name() {
    let (village, year) = (VillageId::parse("v1").expect("id"), Year::new(2025).expect("year"));
    let (mut server, mut phone) = server_and_phone(&village, year);
    let first = phone.get_last_local_change().expect("the second edit").deps()[0];
    let mut claimed = 0;
    let claim = |server: &Automerge, reply: &mut sync::Message| {
        for have in &mut reply.have {
            let hashes: Vec<ChangeHash> =
                server.get_changes(&have.last_sync).iter().map(|c| c.hash()).chain([first]).collect();
            have.bloom = BloomFilter::from_hashes(hashes.into_iter());
            claimed += 1;
        }
    };
    sync_statelessly((&village, year), &mut server, &mut phone, 12, |_| {}, claim);
    assert!(claimed > 0, "the server sent its filter");
    assert_eq!(server.get_heads(), phone.get_heads(), "the sync settles with both edits on the server");
}
