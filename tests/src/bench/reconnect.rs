//! Case 1: a cadre's phone offline for a month reconnects. The village's document holds nine
//! months of records; phone A records a month offline (4 meetings with 40 attendees, 20 point
//! entries, 3 case steps, through the phone library's edit calls), while phone B, online,
//! records a meeting and 5 point entries and syncs them. A's catalog is a month old by then.
//! Then A syncs once with the real `Phone::sync` over HTTP, through a counting proxy.
//!
//! Measured: round trips and bytes on the wire, against the changes exchanged (A's new changes
//! up, B's down), each direction compressed on its own with raw DEFLATE at zlib's default
//! level. The same again on a second village with a phone that only speaks the standard
//! Automerge sync protocol (`std_` figures).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use automerge::{Automerge, ChangeHash};
use zhibu_client::zhibu_schema::sync::{FAST_VERSION, FastOutcome, FastReply, FastRequest, FastResponse};
use zhibu_client::{DocKey, HttpTransport, Phone, SyncOptions, Transport, TransportError};
use zhibu_schema::{Catalog, VillageId, Year};

use super::figures::ms_since;
use super::server::{self, BenchDb, PASSWORD};
use super::wire::CountingProxy;
use super::{Figures, data};

/// Months of records the village has before the phone goes offline.
const BASE_MONTHS: u8 = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// `Phone::sync` as shipped: the fast path, the standard protocol only on `resync`.
    Fast,
    /// The standard Automerge sync protocol only: the fast request is answered `resync`
    /// without touching the network.
    Standard,
}

/// The phone's transport, with the fast path switched off for the standard protocol's run.
struct Via {
    http: HttpTransport,
    protocol: Protocol,
}

impl Transport for Via {
    async fn fast_sync(&self, request: FastRequest) -> Result<FastResponse, TransportError> {
        match self.protocol {
            Protocol::Fast => self.http.fast_sync(request).await,
            Protocol::Standard => Ok(FastResponse {
                v: FAST_VERSION,
                docs: request
                    .docs
                    .into_iter()
                    .map(|d| FastReply { village: d.village, year: d.year, outcome: FastOutcome::Resync })
                    .collect(),
                catalog: None,
            }),
        }
    }
    async fn sync_message(&self, key: &DocKey, message: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        self.http.sync_message(key, message).await
    }
    async fn fetch_doc(&self, key: &DocKey) -> Result<Option<Vec<u8>>, TransportError> {
        self.http.fetch_doc(key).await
    }
    async fn fetch_catalog(&self) -> Result<Catalog, TransportError> {
        self.http.fetch_catalog().await
    }
}

pub async fn run(figures: &mut Figures) -> anyhow::Result<()> {
    let year = super::year();
    let db = BenchDb::sqlite()?;
    let state = server::seeding_state(&db).await?;
    state.db.create_township("bench", "基准镇").await?;
    let mut accounts = Vec::new();
    for v in ["r1", "r2"] {
        state.db.create_village("bench", v, "基准村").await?;
        let village = VillageId::parse(v)?;
        let key = zhibu_server::db::documents::DocKey { township: "bench".into(), village: village.clone(), year };
        server::store_new_doc(&state, &key, data::village_doc(&village, year, 1..=BASE_MONTHS, true)).await?;
        for which in ['a', 'b'] {
            accounts.push(server::cadre(data::cadre_account(&village, which).as_str(), "bench", &village));
        }
    }
    server::create_accounts(&state, accounts).await?;
    state.db.pool.close().await;
    let server = server::start(&db, &[])?;
    let proxy = CountingProxy::start(&server.url).await?;
    for (village, protocol, prefix) in [("r1", Protocol::Fast, ""), ("r2", Protocol::Standard, "std_")] {
        let r = reconnect(&proxy, &VillageId::parse(village)?, year, protocol)
            .await
            .with_context(|| format!("while measuring the reconnect of {village}"))?;
        figures.add(format!("{prefix}reconnect_round_trips"), r.wire.round_trips as f64, "round_trips");
        figures.add(format!("{prefix}reconnect_bytes_up"), r.wire.up as f64, "bytes");
        figures.add(format!("{prefix}reconnect_bytes_down"), r.wire.down as f64, "bytes");
        figures.add(format!("{prefix}reconnect_changes_bytes"), r.changes_bytes as f64, "bytes");
        figures.add(format!("{prefix}reconnect_connections"), r.wire.connections as f64, "connections");
        figures.add(format!("{prefix}reconnect_ms"), r.ms, "ms");
        if protocol == Protocol::Fast {
            let budget = 1.5 * r.changes_bytes as f64 + 1024.0;
            figures.note(format!(
                "reconnect: {} changes up, {} down; {} bytes on the wire against a budget of {budget:.0} \
                 (1.5 x {} compressed + 1 KiB)",
                r.changes_up,
                r.changes_down,
                r.wire.up + r.wire.down,
                r.changes_bytes
            ));
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Reconnect {
    wire: super::wire::Wire,
    ms: f64,
    changes_bytes: usize,
    changes_up: usize,
    changes_down: usize,
}

async fn open_logged_in(dir: &Path, url: &str, user: &str) -> anyhow::Result<Phone> {
    let phone = Phone::open(dir)?;
    zhibu_client::login(&phone, url, user, PASSWORD).await?;
    Ok(phone)
}

async fn sync(phone: &Phone, protocol: Protocol) -> anyhow::Result<zhibu_client::SyncReport> {
    let via = Via { http: HttpTransport::for_phone(phone)?, protocol };
    let report = phone.sync(&via, &SyncOptions::once(), &mut |_| {}).await?;
    anyhow::ensure!(report.refusals().next().is_none(), "the server refused: {report:?}");
    Ok(report)
}

async fn reconnect(
    proxy: &CountingProxy,
    village: &VillageId,
    year: Year,
    protocol: Protocol,
) -> anyhow::Result<Reconnect> {
    let key = DocKey::new(village.clone(), year);
    let roster = data::roster(village, year);
    let (dir_a, dir_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let user_a = data::cadre_account(village, 'a');
    let user_b = data::cadre_account(village, 'b');
    let a = open_logged_in(dir_a.path(), &proxy.url, user_a.as_str()).await?;
    let b = open_logged_in(dir_b.path(), &proxy.url, user_b.as_str()).await?;
    sync(&a, protocol).await?;
    sync(&b, protocol).await?;

    // The month: A offline records October; B, online, records some of November and syncs.
    let month = data::month(&roster, BASE_MONTHS + 1, &user_a, data::salt_of(village, 0));
    data::apply_to_phone(&a, &month, &mut HashMap::new())?;
    let next = data::month(&roster, BASE_MONTHS + 2, &user_b, data::salt_of(village, 0));
    let mut week: Vec<data::Action> =
        next.iter().filter(|a| matches!(a, data::Action::Meeting(..))).take(1).cloned().collect();
    week.extend(next.iter().filter(|a| matches!(a, data::Action::Points(..))).take(5).cloned());
    data::apply_to_phone(&b, &week, &mut HashMap::new())?;
    sync(&b, protocol).await?;
    let a = age_catalog(a, dir_a.path(), 31)?;

    let phone_before = a.document(&key).context("phone A has the document")?;
    let server_before = b.document(&key).context("phone B has the document")?;
    let w0 = proxy.snapshot();
    let t0 = Instant::now();
    let report = sync(&a, protocol).await?;
    let ms = ms_since(t0);
    let wire = proxy.snapshot() - w0;
    if protocol == Protocol::Fast {
        anyhow::ensure!(report.docs.iter().all(|d| !d.standard), "the fast path fell back: {report:?}");
    }
    let after = a.document(&key).context("phone A has the document")?;
    anyhow::ensure!(
        hashes(&server_before).is_subset(&hashes(&after)),
        "phone A did not receive every change of phone B"
    );
    let up = new_changes(&phone_before, &server_before);
    let down = new_changes(&server_before, &phone_before);
    Ok(Reconnect {
        wire,
        ms,
        changes_bytes: deflated(&up) + deflated(&down),
        changes_up: up.len(),
        changes_down: down.len(),
    })
}

fn hashes(doc: &Automerge) -> HashSet<ChangeHash> {
    doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

/// The raw bytes of the changes of `doc` that `other` lacks.
fn new_changes(doc: &Automerge, other: &Automerge) -> Vec<Vec<u8>> {
    let theirs = hashes(other);
    doc.get_changes(&[]).iter().filter(|c| !theirs.contains(&c.hash())).map(|c| c.raw_bytes().to_vec()).collect()
}

/// The size of some changes, one after the other, compressed with raw DEFLATE (level 6).
pub fn deflated(changes: &[Vec<u8>]) -> usize {
    if changes.is_empty() {
        return 0;
    }
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    for c in changes {
        e.write_all(c).expect("writing to memory");
    }
    e.finish().expect("writing to memory").len()
}

/// Reopens the phone with its catalog fetched `days` ago, as after a month offline: the phone
/// fetches it again at the next sync. (The phone's clock cannot be moved, so the date in its
/// catalog cache is.)
fn age_catalog(phone: Phone, dir: &Path, days: i64) -> anyhow::Result<Phone> {
    drop(phone);
    let path = dir.join("catalog.json");
    let mut cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let then = zhibu_client::clock::now() - time::Duration::days(days);
    cached["fetched_at"] = serde_json::Value::String(zhibu_client::clock::format(then));
    std::fs::write(&path, serde_json::to_vec(&cached)?)?;
    Ok(Phone::open(dir)?)
}
