//! A server reply that is broken or hostile (the inputs that once crashed Automerge on the
//! server, under `tests/fixtures/fuzz/`) does not crash the phone: each sync ends with an error
//! that says the reply could not be read, and the phone's edits and files stay as they were.

mod common;

use std::path::Path;
use std::sync::Mutex;

use common::{cadre_session, key, year};
use zhibu_client::zhibu_schema::sync::{FAST_VERSION, FastOutcome, FastReply, FastRequest, FastResponse};
use zhibu_client::zhibu_schema::{Catalog, Member, MemberId, MemberStatus, Name};
use zhibu_client::{ClientError, DocKey, Phone, SyncOptions, Transport, TransportError};

/// Answers the fast path with `Resync` (so the standard protocol runs) or with the fixture as a
/// change, and every standard message with the fixture.
struct Hostile {
    reply: Vec<u8>,
    as_change: bool,
    calls: Mutex<usize>,
}

impl Transport for Hostile {
    async fn fast_sync(&self, request: FastRequest) -> Result<FastResponse, TransportError> {
        *self.calls.lock().unwrap() += 1;
        let outcome = if self.as_change {
            FastOutcome::Synced { heads: Vec::new(), changes: vec![self.reply.clone().into()] }
        } else {
            FastOutcome::Resync
        };
        let docs = request.docs.iter().map(|d| FastReply {
            village: d.village.clone(),
            year: d.year,
            outcome: outcome.clone(),
        });
        Ok(FastResponse { v: FAST_VERSION, docs: docs.collect(), catalog: None })
    }

    async fn sync_message(&self, _: &DocKey, _: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        *self.calls.lock().unwrap() += 1;
        Ok(Some(self.reply.clone()))
    }

    async fn fetch_doc(&self, _: &DocKey) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(None)
    }

    async fn fetch_catalog(&self) -> Result<Catalog, TransportError> {
        Ok(Catalog::default())
    }
}

fn fixtures(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/fuzz").join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .map(|p| std::fs::read(p).expect("fixture"))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

#[tokio::test]
async fn broken_replies_end_the_sync_not_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(cadre_session("cadre1")).unwrap();
    let m = Member::new(Name::parse("王一").unwrap(), MemberStatus::Full);
    phone.add_member(year(), &MemberId::parse("v1-m01").unwrap(), &m).unwrap();
    let heads = phone.document(&key()).unwrap().get_heads();
    let options = SyncOptions::no_retry();
    let mut runs = 0;
    for (target, as_change) in [("sync_message", false), ("document_load", true), ("fast_request", true)] {
        for reply in fixtures(target) {
            let transport = Hostile { reply, as_change, calls: Mutex::new(0) };
            let result = phone.sync(&transport, &options, &mut |_| {}).await;
            // Whatever the reply, the phone is still there, with its edit.
            match result {
                Err(ClientError::Offline(why)) => assert!(why.contains("无法解析") || why.contains("轮内"), "{why}"),
                Ok(_) => {}
                Err(other) => panic!("{target}: {other:?}"),
            }
            assert_eq!(phone.pending_edits(), 1, "{target}: the edit waits");
            runs += 1;
        }
    }
    assert!(runs >= 30, "{runs}");
    assert_eq!(phone.document(&key()).unwrap().get_heads(), heads, "nothing of the replies was kept");
    drop(phone);
    // And the files still open.
    let phone = Phone::open(dir.path()).unwrap();
    assert_eq!(phone.pending_edits(), 1);
}
