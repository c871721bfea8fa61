//! Case 3: phones of many villages reconnect at once, each pushing a month of edits over the
//! fast path, against the real server program (a child process) on SQLite or PostgreSQL.
//!
//! Each village's document holds nine months of records. Its two phones (two cadres) each
//! made a month offline (4 meetings with 40 attendees, 20 point entries, 3 case steps), one
//! change per action, from the state they last synced. Their requests are built before the
//! clock starts, so the phones cost the server's two cores nothing but the network; then every
//! phone sends at once on its own connection. Two rounds:
//!
//! - cold (`sync_cold_*`): the server has just started; no document is in its memory.
//!   October and November.
//! - pull (`sync_pull_*`): the same phones again later that day with nothing new to push, each
//!   getting the month its village's other phone pushed.
//! - the headline: the same phones a month later (December), against the server that has been
//!   serving them, as a server does through the day.
//!
//! Figures: accepted syncs per second (the phones over the wall time from the first send to
//! the last reply), the latency of each phone's request (p50, p99), the server's CPU time per
//! sync, and its peak resident memory (VmHWM) over its whole life.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use automerge::{ActorId, Automerge, Change, ChangeHash};
use zhibu_schema::sync::{
    FAST_VERSION, FastDoc, FastOutcome, FastRequest, FastResponse, hashes_from_wire, hashes_to_wire,
};
use zhibu_schema::{VillageId, Year};
use zhibu_server::db::documents::DocKey;

use super::figures::{ms_since, percentile};
use super::server::{self, BenchDb};
use super::{Figures, Scale, data};

const BASE_MONTHS: u8 = 9;

/// One phone: its copy of the village's document and the server heads it last saw.
#[derive(Debug)]
struct PhoneState {
    village: VillageId,
    index: usize,
    token: String,
    peer: String,
    doc: Automerge,
    known: Vec<ChangeHash>,
    /// The phone's HTTP client, made once, as an app makes it: building one loads the TLS
    /// roots, milliseconds of the benchmark's own CPU that would otherwise be taken from the
    /// server's two cores at every sync. It keeps no idle connection, so each sync still opens
    /// its own, as after a reconnect.
    http: reqwest::Client,
}

/// What a round measured.
#[derive(Debug)]
struct Round {
    per_s: f64,
    p50: f64,
    p99: f64,
    cpu_ms: f64,
    /// The benchmark's own CPU (the phones' side: connections, requests, replies) per sync.
    phones_cpu_ms: f64,
    accepted: usize,
    failures: Vec<String>,
}

pub async fn run(figures: &mut Figures, scale: &Scale, db: BenchDb, prefix: &str) -> anyhow::Result<()> {
    let year = super::year();
    let state = server::seeding_state(&db).await?;
    let villages: Vec<VillageId> =
        (1..=scale.sync_villages).map(|i| VillageId::parse(&format!("s{i:04}"))).collect::<Result<_, _>>()?;
    let township = |i: usize| format!("st{:03}", i / scale.township_size + 1);
    for i in (0..villages.len()).step_by(scale.township_size) {
        state.db.create_township(&township(i), "基准镇").await?;
    }
    let docs = build_in_parallel(&villages, year).await?;
    let mut accounts = Vec::new();
    for (i, (village, doc)) in villages.iter().zip(&docs).enumerate() {
        state.db.create_village(&township(i), village.as_str(), "基准村").await?;
        let key = DocKey { township: township(i), village: village.clone(), year };
        server::store_new_doc(&state, &key, doc.clone()).await?;
        for p in 0..scale.phones_per_village {
            accounts.push(server::cadre(&phone_account(village, p), &township(i), village));
        }
    }
    server::create_accounts(&state, accounts).await?;
    let mut phones = Vec::new();
    for (village, base) in villages.iter().zip(docs) {
        for p in 0..scale.phones_per_village {
            let mut doc = base.fork();
            doc.set_actor(ActorId::random());
            phones.push(PhoneState {
                village: village.clone(),
                index: p,
                token: state.db.issue_token(&phone_account(village, p), 30).await?,
                peer: format!("bench-{village}-{p}"),
                known: base.get_heads(),
                doc,
                http: crate::http().pool_max_idle_per_host(0).build()?,
            });
        }
    }
    state.db.pool.close().await;

    // The server as deployed: its defaults, nothing tuned for the benchmark.
    let server = server::start(&db, &[])?;
    let url = Arc::new(format!("{}/v1/sync", server.url));
    let cold = round(&server, &url, &mut phones, year, |p| Some(BASE_MONTHS + 1 + p as u8)).await?;
    // The phones sync again later that day with nothing new (each gets the other's month),
    // then record December.
    let pull = round(&server, &url, &mut phones, year, |_| None).await?;
    let warm = round(&server, &url, &mut phones, year, |_| Some(12)).await?;
    let rss = server::peak_rss_mb(server.pid()).context("the server's memory from /proc")?;
    for (r, name) in [(&warm, ""), (&cold, "cold_"), (&pull, "pull_")] {
        figures.add(format!("{prefix}sync_{name}throughput_per_s"), r.per_s, "syncs/s");
        figures.add(format!("{prefix}sync_{name}p50_ms"), r.p50, "ms");
        figures.add(format!("{prefix}sync_{name}p99_ms"), r.p99, "ms");
        figures.add(format!("{prefix}sync_{name}server_cpu_ms_per_sync"), r.cpu_ms, "ms");
        figures.add(format!("{prefix}sync_{name}phones_cpu_ms_per_sync"), r.phones_cpu_ms, "ms");
        if r.accepted < phones.len() {
            figures.note(format!(
                "{prefix}sync {name}: {} of {} not accepted, e.g. {:?}",
                phones.len() - r.accepted,
                phones.len(),
                r.failures
            ));
        }
    }
    figures.add(format!("{prefix}server_rss_mb"), rss, "MiB");
    Ok(())
}

/// Every phone records `month(phone index)` offline (None: nothing), then all send at once.
async fn round(
    server: &crate::ServerProcess,
    url: &Arc<String>,
    phones: &mut [PhoneState],
    year: Year,
    month: impl Fn(usize) -> Option<u8>,
) -> anyhow::Result<Round> {
    let mut bodies = Vec::new();
    for phone in phones.iter_mut() {
        bodies.push(offline_month(phone, year, month(phone.index)));
    }
    let cpu_before = server::cpu_ms(server.pid()).unwrap_or(0.0);
    let phones_cpu_before = server::cpu_ms(std::process::id()).unwrap_or(0.0);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (phone, body)) in phones.iter().zip(bodies).enumerate() {
        let (url, token, peer, http) = (url.clone(), phone.token.clone(), phone.peer.clone(), phone.http.clone());
        tasks.spawn(async move {
            let t0 = Instant::now();
            let r = http
                .post(url.as_str())
                .bearer_auth(&token)
                .header("X-Peer-Id", &peer)
                .header("Content-Type", "application/cbor")
                .body(body)
                .send()
                .await;
            let r = match r {
                Ok(r) => (r.status().as_u16(), r.bytes().await.map(|b| b.to_vec()).unwrap_or_default()),
                Err(e) => (0, e.to_string().into_bytes()),
            };
            (i, ms_since(t0), r)
        });
    }
    let mut latencies = Vec::new();
    let mut replies = vec![(0, Vec::new()); phones.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, ms, reply) = done?;
        latencies.push(ms);
        replies[i] = reply;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = server::cpu_ms(server.pid()).unwrap_or(0.0) - cpu_before;
    let phones_cpu = server::cpu_ms(std::process::id()).unwrap_or(0.0) - phones_cpu_before;
    let mut accepted = 0;
    let mut failures = Vec::new();
    for (phone, (status, body)) in phones.iter_mut().zip(&replies) {
        let outcome = if *status == 200 { FastResponse::decode(body).ok() } else { None };
        match outcome.and_then(|r| r.docs.into_iter().next()).map(|d| d.outcome) {
            Some(FastOutcome::Synced { heads, changes }) => {
                accepted += 1;
                let changes =
                    changes.into_iter().map(|c| Change::from_bytes(c.into_vec())).collect::<Result<Vec<_>, _>>()?;
                phone.doc.apply_changes(changes)?;
                phone.known = hashes_from_wire(&heads).map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            other => {
                if failures.len() < 3 {
                    let body = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                    failures.push(format!("{status}: {other:?} {body}"));
                }
            }
        }
    }
    Ok(Round {
        per_s: accepted as f64 / wall,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        cpu_ms: cpu / phones.len().max(1) as f64,
        phones_cpu_ms: phones_cpu / phones.len().max(1) as f64,
        accepted,
        failures,
    })
}

fn phone_account(village: &VillageId, phone: usize) -> String {
    data::cadre_account(village, (b'a' + phone as u8) as char).to_string()
}

/// The villages' documents with nine months each, made on the machine's cores.
async fn build_in_parallel(villages: &[VillageId], year: Year) -> anyhow::Result<Vec<Automerge>> {
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let chunk = villages.len().div_ceil(workers).max(1);
    let mut tasks = Vec::new();
    for part in villages.chunks(chunk) {
        let part = part.to_vec();
        tasks.push(tokio::task::spawn_blocking(move || {
            part.iter().map(|v| data::village_doc(v, year, 1..=BASE_MONTHS, true)).collect::<Vec<_>>()
        }));
    }
    let mut docs = Vec::new();
    for t in tasks {
        docs.extend(t.await?);
    }
    Ok(docs)
}

/// The phone records `month` offline, one change per action, and makes its fast request:
/// every change that is not an ancestor of the server heads it knows. In December every phone
/// of a village records its own meetings and points, and steps of the same case.
fn offline_month(phone: &mut PhoneState, year: Year, month: Option<u8>) -> Vec<u8> {
    if let Some(month) = month {
        let roster = data::roster(&phone.village, year);
        let by = data::cadre_account(&phone.village, (b'a' + phone.index as u8) as char);
        let cases = data::salt_of(&phone.village, 0);
        let salt = if month == 12 { data::salt_of(&phone.village, phone.index as u64) } else { cases };
        let actions = data::month_on_cases_of(&roster, month, &by, salt, cases);
        data::commit(&mut phone.doc, &actions, true, zhibu_server::db::now_ms() / 1000);
    }
    let changes = phone.doc.get_changes(&phone.known).iter().map(|c| c.raw_bytes().to_vec().into()).collect();
    let request = FastRequest {
        v: FAST_VERSION,
        docs: vec![FastDoc {
            village: phone.village.clone(),
            year,
            known: hashes_to_wire(&phone.known),
            heads: hashes_to_wire(&phone.doc.get_heads()),
            changes,
        }],
        catalog: None,
    };
    request.encode()
}
