//! One push of the benchmark's throughput case, timed step by step in process: what the
//! server's admission and storage cost on this machine without HTTP, the database or other
//! pushes competing for the caches (docs/PERFORMANCE.md compares it with the server's CPU per
//! sync). `cargo run --release -p zhibu-tests --example push_steps`
//!
//! The village holds eleven months of records (as after the throughput case's cold and pulling
//! rounds); a phone pushes its December (4 meetings of 40 attendees, 20 point entries, 3 case
//! steps, one change each); then the village's other phone pushes its own December, after the
//! first or together with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use automerge::{ActorId, Automerge, Change, PatchLog, ReadDoc};
use zhibu_schema::sync::{FastDoc, Gate, Member, Owner, hashes_to_wire, receive_fast_known, receive_fast_together};
use zhibu_schema::{Catalog, VillageId, check_read, mapping};
use zhibu_server::db::projections::{self, Before};
use zhibu_tests::bench::data;

// The server's allocator, so the figures are the server's own.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: zhibu_server::Allocator = zhibu_server::Allocator;

const RUNS: u32 = 40;

/// Prints the mean time of `f` over [`RUNS`] runs after one to warm up.
fn time(name: &str, mut f: impl FnMut()) {
    f();
    let start = Instant::now();
    for _ in 0..RUNS {
        f();
    }
    println!("{name} {:.3} ms", start.elapsed().as_secs_f64() * 1000.0 / f64::from(RUNS));
}

fn main() {
    let year = zhibu_server::api::this_year();
    let village = VillageId::parse("s0001").expect("village id");
    let base = data::village_doc(&village, year, 1..=11, true);
    let mut phone = base.fork();
    phone.set_actor(ActorId::random());
    let roster = data::roster(&village, year);
    let by = data::cadre_account(&village, 'a');
    let actions = data::month_on_cases_of(&roster, 12, &by, data::salt_of(&village, 1), data::salt_of(&village, 0));
    data::commit(&mut phone, &actions, true, 0);
    let sent: Vec<Vec<u8>> = phone.get_changes(&base.get_heads()).iter().map(|c| c.raw_bytes().to_vec()).collect();
    let changes: Vec<Change> = sent.iter().map(|c| Change::from_bytes(c.clone()).expect("decodes")).collect();
    let ops: usize = changes.iter().map(Change::len).sum();
    println!("# a push of {} changes ({ops} ops) into a document of {} ops", changes.len(), base.stats().num_ops);

    let catalog = Catalog::default();
    let owner = |_: &ActorId| Owner::Caller;
    let account_a = data::cadre_account(&village, 'a');
    let gate = Gate { village: &village, year, catalog: &catalog, account: account_a.as_str(), owner: &owner };
    let base_read = Arc::new(mapping::read(&base).expect("reads"));
    let request = FastDoc {
        village: village.clone(),
        year,
        known: hashes_to_wire(&base.get_heads()),
        heads: hashes_to_wire(&phone.get_heads()),
        changes: sent.iter().map(|c| c.clone().into()).collect(),
    };

    time("push_decode_ms", || {
        sent.iter().map(|c| Change::from_bytes(c.clone()).expect("decodes")).for_each(drop);
    });
    time("push_expand_ops_ms", || changes.iter().map(Change::decode).for_each(drop));
    time("push_fork_ms", || drop(base.fork()));
    time("push_records_clone_ms", || drop((*base_read).clone()));
    time("push_apply_ms", || {
        let mut next = base.fork();
        next.apply_changes(changes.clone()).expect("applies");
    });
    time("push_apply_with_patches_ms", || {
        let mut next = base.fork();
        let mut log = PatchLog::new(true);
        next.apply_changes_log_patches(changes.clone(), &mut log).expect("applies");
        drop(next.make_patches(&mut log));
    });
    time("push_admission_ms", || {
        receive_fast_known(&base, Some(&base_read), &[], &request, &gate).expect("admitted").expect("no resync");
    });
    // The same against a hundred documents in turn (each loaded on its own, sharing nothing),
    // as a server holding a hundred villages meets them.
    let many: Vec<(Automerge, Arc<mapping::Hydrated>)> = (0..100)
        .map(|_| {
            let doc = Automerge::load(&base.save()).expect("loads");
            let read = Arc::new(mapping::read(&doc).expect("reads"));
            (doc, read)
        })
        .collect();
    let mut turn = 0;
    time("push_admission_100_documents_ms", || {
        turn = (turn + 1) % many.len();
        let (doc, read) = &many[turn];
        receive_fast_known(doc, Some(read), &[], &request, &gate).expect("admitted").expect("no resync");
    });
    let (accepted, _) =
        receive_fast_known(&base, Some(&base_read), &[], &request, &gate).expect("admitted").expect("no resync");
    // The village's other phone made its December offline at the same time: its push after the
    // first one's, and the two admitted together (crate `zhibu_server::together`).
    let mut other = base.fork();
    other.set_actor(ActorId::random());
    let by = data::cadre_account(&village, 'b');
    let actions = data::month_on_cases_of(&roster, 12, &by, data::salt_of(&village, 2), data::salt_of(&village, 0));
    data::commit(&mut other, &actions, true, 0);
    let second: Vec<Change> = other.get_changes(&base.get_heads()).into_iter().collect();
    let other_request = FastDoc {
        heads: hashes_to_wire(&other.get_heads()),
        changes: second.iter().map(|c| c.raw_bytes().to_vec().into()).collect(),
        ..request.clone()
    };
    let gate_b = Gate { account: by.as_str(), ..gate };
    time("push_apply_after_the_other_phone_ms", || {
        let mut next = accepted.doc.fork();
        next.apply_changes(second.clone()).expect("applies");
    });
    time("push_apply_two_phones_together_ms", || {
        let mut next = base.fork();
        next.apply_changes(changes.iter().chain(&second).cloned().collect::<Vec<_>>()).expect("applies");
    });
    time("push_admission_after_the_other_phone_ms", || {
        receive_fast_known(&accepted.doc, Some(&accepted.read), &[], &other_request, &gate_b)
            .expect("admitted")
            .expect("no resync");
    });
    let members = [Member { doc: &request, gate }, Member { doc: &other_request, gate: gate_b }];
    time("push_admission_two_phones_together_ms", || {
        receive_fast_together(&base, Some(&base_read), &[], &members).expect("admitted together");
    });
    time("push_rules_ms", || drop(check_read(&accepted.read, &village, year, &catalog)));
    let mut seen = HashMap::new();
    let base_after = projections::After { records: &base_read.doc, problems: None };
    let (_, shared) = projections::plan(None, None, base_after, &catalog, &mut seen, 0, true);
    time("push_projection_rows_ms", || {
        let before = Before { records: &base_read.doc, touched: &accepted.touched, shared: Some(&shared) };
        let was = Some(&base_read.doc);
        let after = projections::After { records: &accepted.read.doc, problems: accepted.problems.as_deref() };
        drop(projections::plan(Some(before), was, after, &catalog, &mut seen.clone(), 1, true));
    });
    time("snapshot_ms", || drop(accepted.doc.save()));
    time("snapshot_uncompressed_ms", || drop(accepted.doc.save_nocompress()));
    let packed = zhibu_server::db::documents::pack_snapshot(&accepted.doc);
    println!("# snapshot as stored {} bytes; Automerge's save {} bytes", packed.len(), accepted.doc.save().len());
    time("snapshot_packed_ms", || drop(zhibu_server::db::documents::pack_snapshot(&accepted.doc)));
    time("document_read_whole_ms", || drop(mapping::read(&accepted.doc).expect("reads")));
    time("document_hydrate_ms", || drop(accepted.doc.hydrate(None)));
    time("document_hydrate_one_pass_ms", || {
        drop(mapping::hydrate(&accepted.doc, &automerge::ROOT, automerge::ObjType::Map).expect("hydrates"))
    });
}
