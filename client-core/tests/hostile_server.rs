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

/// A reply whose changes for one document do not read: that document waits for the next sync
/// (`Later`), and the others in the same reply are synced.
struct OneBroken {
    broken: zhibu_client::zhibu_schema::Year,
}

impl Transport for OneBroken {
    async fn fast_sync(&self, request: FastRequest) -> Result<FastResponse, TransportError> {
        let docs = request
            .docs
            .iter()
            .map(|d| {
                let changes =
                    if d.year == self.broken { vec![vec![0x85, 0x6f, 0x4a, 0x83].into()] } else { Vec::new() };
                FastReply {
                    village: d.village.clone(),
                    year: d.year,
                    outcome: FastOutcome::Synced { heads: d.heads.clone(), changes },
                }
            })
            .collect();
        Ok(FastResponse { v: FAST_VERSION, docs, catalog: None })
    }

    async fn sync_message(&self, _: &DocKey, _: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(None)
    }

    async fn fetch_doc(&self, _: &DocKey) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(None)
    }

    async fn fetch_catalog(&self) -> Result<Catalog, TransportError> {
        Ok(Catalog::default())
    }
}

#[tokio::test]
async fn one_documents_broken_reply_holds_up_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::open(dir.path()).unwrap();
    phone.set_session(cadre_session("cadre1")).unwrap();
    let last = zhibu_client::zhibu_schema::Year::new(i64::from(year()) - 1).unwrap();
    let m = Member::new(Name::parse("王一").unwrap(), MemberStatus::Full);
    for y in [last, year()] {
        phone.add_member(y, &MemberId::parse("v1-m01").unwrap(), &m).unwrap();
    }
    let report = phone.sync(&OneBroken { broken: last }, &SyncOptions::no_retry(), &mut |_| {}).await.unwrap();
    let later: Vec<_> = report.later().map(|(k, why)| (k.year, why.to_owned())).collect();
    assert_eq!(later.len(), 1, "{report:?}");
    assert_eq!(later[0].0, last);
    assert!(later[0].1.contains("无法解析"), "{later:?}");
    assert!(
        report.docs.iter().any(|d| d.key.year == year() && d.outcome == zhibu_client::DocOutcome::Synced),
        "{report:?}"
    );
}
