//! A change that reaches the server before the change it depends on.
//!
//! The server keeps no document between requests: a change it cannot apply yet (its
//! dependency has not arrived) is dropped with the request. The phone's sync state, though,
//! says the change was sent, and Automerge does not send a change twice in one session. Unless
//! the server tells the phone to forget what it sent, the sync never settles: the server keeps
//! asking for the dependency, then for the dropped change, and the phone keeps sending neither.
//! This happens when the server's Bloom filter falsely claims the dependency (found by the
//! cut-off tests in `tests/tests/cutoff.rs`, where every resumed sync starts a fresh filter).

use automerge::sync::{self, ChunkList, SyncDoc};
use automerge::{ActorId, Automerge};
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

#[test]
fn a_change_that_arrives_before_its_dependency_is_sent_again() {
    let village = VillageId::parse("v1").expect("id");
    let year = Year::new(2025).expect("year");
    let catalog = Catalog::default();
    let owner = |_: &ActorId| Owner::Caller;
    let gate = Gate { village: &village, year, catalog: &catalog, owner: &owner };

    let mut server = mapping::genesis(&village, year).with_actor(ActorId::from(b"server".as_slice()));
    // A roster entered one member at a time: enough changes that the phone's two are sent as
    // changes, not as the whole document.
    let roster = zhibu_schema::sample::roster(&village, year, 12, 1);
    for (id, m) in &roster.members {
        server
            .transact::<_, _, WriteError>(|tx| mapping::put_record(tx, Collection::Members, id.as_str(), m))
            .expect("member");
    }
    let mut phone = server.fork().with_actor(ActorId::from(b"phone".as_slice()));
    award(&mut phone, &village, year, 0);
    award(&mut phone, &village, year, 1);
    let second = phone.get_last_local_change().expect("the second edit").clone();

    let (mut phone_state, mut server_state) = (sync::State::new(), sync::State::new());
    let mut tampered = false;
    for _ in 0..12 {
        let Some(mut msg) = phone.generate_sync_message(&mut phone_state) else { break };
        if !tampered && !msg.changes.is_empty() {
            // The first message with changes loses the first edit, as when the server's Bloom
            // filter claims it has it: only the second, which depends on it, arrives.
            msg.changes = ChunkList::from(second.raw_bytes().to_vec());
            tampered = true;
        }
        let step = receive_sync(&server, &server_state, &msg.encode(), &gate).expect("admitted");
        // What a stateless server keeps: the applied changes and the encoded state only.
        let stored = step.accepted.doc.save();
        server = Automerge::load(&stored).expect("load").with_actor(ActorId::from(b"server".as_slice()));
        server_state = sync::State::decode(&step.state.encode()).expect("state");
        if let Some(reply) = step.reply {
            phone.receive_sync_message(&mut phone_state, sync::Message::decode(&reply).expect("reply")).expect("apply");
        }
    }
    assert!(tampered, "the exchange carried changes");
    assert_eq!(server.get_heads(), phone.get_heads(), "the sync settles with both edits on the server");
}
