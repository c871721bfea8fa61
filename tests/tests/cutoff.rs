//! A phone's sync cut off at every point of the exchange: a proxy on loopback drops the
//! connection after N bytes of the requests or of the replies, for N at every message boundary
//! and every end of an HTTP head (and one byte either side) and at even steps in between; the phone gets an error, then
//! resumes directly. It must end exactly where an uninterrupted sync ends: the phone and the
//! server at the same heads (the union of both sides' changes), each of the phone's edits
//! present, and the server's change log holding each change once. Both the standard protocol
//! (several round trips) and the fast path (one) are cut, on both backends.

use std::collections::BTreeSet;

use automerge::{Automerge, ChangeHash};
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::{AccountId, Code, Collection, MemberId, PointDelta, PointEntry, RecordId};
use zhibu_tests::cut_proxy::{Cut, CutProxy, Direction};
use zhibu_tests::fast_phone::FastPhone;
use zhibu_tests::process::Remote;
use zhibu_tests::raw_phone::{RawPhone, Refused};
use zhibu_tests::{Backend, TestApp, backends};

/// Cut points spread evenly over each direction, besides the message boundaries.
const EVEN_POINTS: u64 = 24;
/// Edits the phone makes offline before each cut sync.
const EDITS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Standard,
    Fast,
}

enum Phone {
    Standard(RawPhone),
    Fast(FastPhone),
}

impl Phone {
    fn doc(&self) -> &Automerge {
        match self {
            Phone::Standard(p) => &p.doc,
            Phone::Fast(p) => &p.doc,
        }
    }

    fn edit(
        &mut self,
        message: &str,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), WriteError>,
    ) {
        match self {
            Phone::Standard(p) => p.edit(message, f),
            Phone::Fast(p) => p.edit(message, f),
        }
    }

    async fn sync(&mut self, server: &impl zhibu_tests::Server) -> Result<(), Refused> {
        match self {
            Phone::Standard(p) => p.sync(server).await,
            Phone::Fast(p) => p.sync(server).await,
        }
    }
}

fn award(phone: &mut Phone, by: &str, n: usize) -> RecordId {
    let id = RecordId::new_v7();
    let p = PointEntry {
        member_id: MemberId::parse(&format!("v1-m{:02}", n % 8 + 1)).expect("id"),
        rule: Code::parse("volunteer").expect("code"),
        delta: PointDelta::new(1 + (n % 5) as i64).expect("delta"),
        on: zhibu_server::api::this_year().first_day(),
        note: None,
        by: AccountId::parse(by).expect("id"),
        voided: None,
    };
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &id, &p));
    id
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

struct Bench {
    app: TestApp,
    cadre1: String,
    /// Another phone of the village, which gives the server something the cut phone lacks.
    other: Phone,
    trials: usize,
}

/// What one uninterrupted exchange looked like through the proxy.
struct Shape {
    totals: [u64; 2],
    ends: [Vec<u64>; 2],
}

impl Bench {
    async fn new(backend: Backend) -> Option<Bench> {
        let app = TestApp::start(backend).await?;
        let cadre1 = app.token("cadre1").await;
        let cadre2 = app.token("cadre2").await;
        let mut other = Phone::Standard(RawPhone::new(&app, &cadre2, "cut-other", "v1"));
        other.sync(&app).await.expect("the other phone syncs");
        Some(Bench { app, cadre1, other, trials: 0 })
    }

    /// One sync of a fresh phone, cut as told, then resumed directly; checks that it ends as an
    /// uninterrupted sync would. Returns what the proxy saw.
    async fn trial(&mut self, protocol: Protocol, cut: Option<Cut>) -> Shape {
        self.trials += 1;
        let app = &self.app;
        let actor = format!("cut-{}-{:05}", if protocol == Protocol::Fast { "f" } else { "s" }, self.trials);
        let mut phone = match protocol {
            Protocol::Standard => Phone::Standard(RawPhone::new(app, &self.cadre1, &actor, "v1")),
            Protocol::Fast => Phone::Fast(FastPhone::new(app, &self.cadre1, &actor, "v1")),
        };
        phone.sync(app).await.expect("the phone's first sync");
        // The server learns something the phone lacks; the phone makes edits the server lacks.
        award(&mut self.other, "cadre2", self.trials);
        self.other.sync(app).await.expect("the other phone pushes");
        let ids: Vec<RecordId> = (0..EDITS).map(|n| award(&mut phone, "cadre1", n)).collect();
        let mut expected = phone.doc().fork();
        let mut server_doc = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc;
        expected.merge(&mut server_doc).expect("merge");
        let expected = sorted(expected.get_heads());

        let proxy = CutProxy::start(&app.url, cut).await;
        let via = Remote::new(&proxy.url, app.year);
        let first = phone.sync(&via).await;
        let what = format!("{protocol:?} cut {cut:?}");
        match &first {
            Err(e) => {
                assert!(proxy.tripped(), "{what}: refused without a cut: {e:?}");
                assert_eq!(e.status, 0, "{what}: a cut line is a transport error, not {e:?}");
            }
            Ok(()) => assert!(!proxy.tripped(), "{what}: the cut went unnoticed"),
        }
        let ends = |d| {
            let mut e = proxy.chunk_ends(d);
            e.extend(proxy.head_ends(d));
            e
        };
        let shape =
            Shape { totals: [proxy.bytes().0, proxy.bytes().1], ends: [ends(Direction::Up), ends(Direction::Down)] };
        drop(proxy);

        // Resumed directly: the state of an uninterrupted sync.
        phone.sync(app).await.unwrap_or_else(|e| panic!("{what}: the phone does not resume: {e:?}"));
        assert_eq!(sorted(phone.doc().get_heads()), expected, "{what}: the phone's heads");
        let server_doc = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc;
        assert_eq!(sorted(server_doc.get_heads()), expected, "{what}: the server's heads");
        let records = mapping::read(&server_doc).expect("reads").doc;
        for id in &ids {
            assert!(records.points.contains_key(id), "{what}: edit {id} missing");
        }
        let actor_hex = automerge::ActorId::from(actor.as_bytes()).to_hex_string();
        let (logged,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM changes WHERE actor = $1")
            .bind(&actor_hex)
            .fetch_one(&app.state.db.pool)
            .await
            .expect("count");
        assert_eq!(logged, EDITS as i64, "{what}: the change log holds each of the phone's changes once");
        let dup: Vec<(String,)> =
            sqlx::query_as("SELECT hash FROM changes GROUP BY township_id, village_id, year, hash HAVING COUNT(*) > 1")
                .fetch_all(&app.state.db.pool)
                .await
                .expect("duplicates");
        assert!(dup.is_empty(), "{what}: duplicated changes {dup:?}");

        // And it goes on syncing as before.
        let later = award(&mut phone, "cadre1", 7);
        phone.sync(app).await.unwrap_or_else(|e| panic!("{what}: the next sync: {e:?}"));
        let server_doc = app.state.db.load_doc(&app.doc_key("v1")).await.expect("load").doc;
        assert_eq!(sorted(server_doc.get_heads()), sorted(phone.doc().get_heads()), "{what}: after the next sync");
        assert!(mapping::read(&server_doc).expect("reads").doc.points.contains_key(&later));
        shape
    }
}

/// Every message boundary and a byte either side, plus even steps, below the total.
fn cut_points(total: u64, ends: &[u64]) -> BTreeSet<u64> {
    let mut points: BTreeSet<u64> = (0..EVEN_POINTS).map(|k| total * k / EVEN_POINTS).collect();
    for &e in ends {
        points.extend([e.saturating_sub(1), e, e + 1]);
    }
    points.retain(|&p| p < total);
    points
}

async fn cut_everywhere(backend: Backend, protocol: Protocol) {
    let Some(mut bench) = Bench::new(backend).await else { return };
    let shape = bench.trial(protocol, None).await;
    let mut cuts = 0;
    for (i, direction) in [Direction::Up, Direction::Down].into_iter().enumerate() {
        assert!(shape.totals[i] > 0, "the exchange went through the proxy");
        for after in cut_points(shape.totals[i], &shape.ends[i]) {
            bench.trial(protocol, Some(Cut { direction, after })).await;
            cuts += 1;
        }
    }
    eprintln!(
        "{protocol:?} on {backend:?}: {cuts} cuts over {} bytes up and {} down ({} and {} boundaries)",
        shape.totals[0],
        shape.totals[1],
        shape.ends[0].len(),
        shape.ends[1].len()
    );
}

async fn standard(backend: Backend) {
    cut_everywhere(backend, Protocol::Standard).await
}
backends!(a_standard_sync_cut_anywhere_resumes_to_the_same_state, standard);

async fn fast(backend: Backend) {
    cut_everywhere(backend, Protocol::Fast).await
}
backends!(a_fast_sync_cut_anywhere_resumes_to_the_same_state, fast);
