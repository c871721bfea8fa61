//! The load test: many concurrent loopback connections syncing and reading against the real
//! server program (a child process, so its memory can be read from `/proc`), for a bounded
//! time; then the figures: operations, errors, 4xx and 5xx, latency percentiles per kind, and
//! the server's resident memory (sampled, and its peak).
//!
//! Each connection is one client with one keep-alive TCP connection, acting as one of: a
//! cadre's phone (edits a point entry and syncs, by the standard protocol or the fast path,
//! or reads its document), a member (their points), the township (its report, sometimes the
//! CSV), or a probe (`/healthz`, the catalog). Every village has a few phones, as villages
//! have two or three cadres. Stops by itself: no request starts after the deadline, and each
//! has a timeout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::{AccountId, Code, Collection, MemberId, PointDelta, PointEntry, RecordId, VillageId, Year, sample};
use zhibu_server::db::accounts::hash_password;
use zhibu_server::db::documents::DocKey;
use zhibu_server::{AppState, Config};

use crate::fast_phone::FastPhone;
use crate::process::Remote;
use crate::raw_phone::{RawPhone, Refused};

#[derive(Debug, Clone)]
pub struct Options {
    pub connections: usize,
    pub duration: Duration,
    /// Villages (one cadre account each); their phones share the connections.
    pub villages: usize,
    /// Pause between one connection's requests, drawn from 0..think.
    pub think: Duration,
    /// Peak server memory above which the run fails, in MiB.
    pub max_rss_mb: u64,
}

impl Options {
    /// The CI-sized run: 1,000 connections for 20 seconds.
    pub fn full() -> Options {
        Options {
            connections: 1000,
            duration: Duration::from_secs(20),
            villages: villages_for(1000),
            think: Duration::from_millis(200),
            max_rss_mb: 1024,
        }
    }

    /// The smoke run of the normal test suite.
    pub fn smoke() -> Options {
        Options {
            connections: 100,
            duration: Duration::from_secs(3),
            villages: villages_for(100),
            think: Duration::from_millis(100),
            max_rss_mb: 512,
        }
    }
}

/// Villages for a number of connections: seven in ten connections are phones, and a village
/// has two of them, as it has two or three cadres.
pub fn villages_for(connections: usize) -> usize {
    (connections * 7 / 10 / 2).max(1)
}

/// What one kind of operation did.
#[derive(Debug, Default, Clone)]
pub struct KindFigures {
    pub ok: u64,
    /// Status (0: the connection failed or timed out) to count.
    pub failed: BTreeMap<u16, u64>,
    pub latencies_ms: Vec<f64>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub connections: usize,
    pub wall: Duration,
    pub kinds: BTreeMap<&'static str, KindFigures>,
    /// Server resident memory: (MiB) at start, highest sample, at the end, and its peak (VmHWM).
    pub rss_start_mb: f64,
    pub rss_max_sampled_mb: f64,
    pub rss_end_mb: f64,
    pub rss_peak_mb: f64,
    pub max_rss_mb: u64,
    pub open_files_limit: Option<u64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

impl Report {
    pub fn operations(&self) -> u64 {
        self.kinds.values().map(|k| k.ok + k.failed.values().sum::<u64>()).sum()
    }
    fn count(&self, f: impl Fn(u16) -> bool) -> u64 {
        self.kinds.values().flat_map(|k| k.failed.iter()).filter(|(s, _)| f(**s)).map(|(_, n)| n).sum()
    }
    /// Connections that failed (reset, refused, timed out).
    pub fn transport_errors(&self) -> u64 {
        self.count(|s| s == 0)
    }
    pub fn server_errors(&self) -> u64 {
        self.count(|s| s >= 500)
    }
    pub fn client_errors(&self) -> u64 {
        self.count(|s| (400..500).contains(&s))
    }

    /// Why the run failed, if it did.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.operations() == 0 {
            out.push("no operation completed".to_owned());
        }
        for (what, n) in [
            ("connection errors", self.transport_errors()),
            ("5xx answers", self.server_errors()),
            ("4xx answers", self.client_errors()),
        ] {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        }
        if self.rss_peak_mb > self.max_rss_mb as f64 {
            out.push(format!("server peak memory {:.0} MiB over the bound {} MiB", self.rss_peak_mb, self.max_rss_mb));
        }
        out
    }

    /// The figures, one per line: `name value unit`.
    pub fn figures(&self) -> String {
        let mut s = String::new();
        let secs = self.wall.as_secs_f64().max(0.001);
        let mut all: Vec<f64> = self.kinds.values().flat_map(|k| k.latencies_ms.iter().copied()).collect();
        all.sort_by(f64::total_cmp);
        let _ = writeln!(s, "load_connections {} connections", self.connections);
        let _ = writeln!(s, "load_seconds {:.1} s", secs);
        let _ = writeln!(s, "load_operations {} operations", self.operations());
        let _ = writeln!(s, "load_throughput {:.1} operations/s", self.operations() as f64 / secs);
        let _ = writeln!(s, "load_connection_errors {} errors", self.transport_errors());
        let _ = writeln!(s, "load_5xx {} responses", self.server_errors());
        let _ = writeln!(s, "load_4xx {} responses", self.client_errors());
        let _ = writeln!(s, "load_latency_p50 {:.1} ms", percentile(&all, 0.50));
        let _ = writeln!(s, "load_latency_p99 {:.1} ms", percentile(&all, 0.99));
        let _ = writeln!(s, "load_latency_max {:.1} ms", all.last().copied().unwrap_or(0.0));
        for (kind, k) in &self.kinds {
            let mut l = k.latencies_ms.clone();
            l.sort_by(f64::total_cmp);
            let failed: u64 = k.failed.values().sum();
            let _ = writeln!(
                s,
                "load_{kind} {} ok {failed} failed p50 {:.1} ms p99 {:.1} ms{}",
                k.ok,
                percentile(&l, 0.5),
                percentile(&l, 0.99),
                if k.failed.is_empty() { String::new() } else { format!(" statuses {:?}", k.failed) }
            );
        }
        let _ = writeln!(s, "server_rss_start {:.1} MiB", self.rss_start_mb);
        let _ = writeln!(s, "server_rss_max_sampled {:.1} MiB", self.rss_max_sampled_mb);
        let _ = writeln!(s, "server_rss_end {:.1} MiB", self.rss_end_mb);
        let _ = writeln!(s, "server_rss_peak {:.1} MiB (bound {} MiB)", self.rss_peak_mb, self.max_rss_mb);
        if let Some(n) = self.open_files_limit {
            let _ = writeln!(s, "open_files_limit {n} files");
        }
        s
    }
}

/// A figure of `/proc/PID/status` (`VmRSS`, `VmHWM`) in MiB.
pub fn proc_status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The server program as a child process, killed when dropped.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    pub url: String,
}

impl ServerChild {
    /// Starts `command` (the server program, or a program that runs it) with the server's
    /// arguments for `database_url` on a free loopback port.
    pub fn start(mut command: Command, database_url: &str) -> anyhow::Result<ServerChild> {
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url])
            .env("RUST_LOG", "warn,tower_http=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("while starting the server program")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let start = line.find("http://").with_context(|| format!("no address in {line:?}"))?;
        let url = line[start..].split_whitespace().next().context("url")?.trim_end_matches('/').to_owned();
        Ok(ServerChild { child, url })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Tokens of the seeded accounts.
#[derive(Debug, Clone)]
struct Tokens {
    cadres: Vec<String>,
    members: Vec<String>,
    /// One township account per township.
    staff: Vec<String>,
}

/// Villages per township, as in a real township.
const TOWNSHIP_SIZE: usize = 20;

fn village(i: usize) -> VillageId {
    VillageId::parse(&format!("load-{i:04}")).expect("id")
}

fn township(village: usize) -> String {
    format!("load-t{:03}", village / TOWNSHIP_SIZE)
}

/// Seeds `villages` villages (a roster of 12 each) in townships of twenty, one cadre and one
/// member account per village and one account per township, through the server's own code.
/// Passwords are hashed once: hashing thousands with argon2 would take longer than the load.
async fn seed(state: &AppState, villages: usize, year: Year) -> anyhow::Result<Tokens> {
    let db = &state.db;
    let hash = hash_password("load-pass-1234".to_owned()).await?;
    let insert = "INSERT INTO accounts (id, password_hash, role, township_id, village_id, member_id, created_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, 0)";
    let mut tokens = Tokens { cadres: Vec::new(), members: Vec::new(), staff: Vec::new() };
    for i in 0..villages {
        let t = township(i);
        if i % TOWNSHIP_SIZE == 0 {
            db.create_township(&t, "压测镇").await?;
            let staff = format!("{t}-staff");
            sqlx::query(insert)
                .bind(&staff)
                .bind(&hash)
                .bind("township")
                .bind(&t)
                .bind(None::<String>)
                .bind(None::<String>)
                .execute(&db.pool)
                .await?;
            tokens.staff.push(db.issue_token(&staff, 1).await?);
        }
        let v = village(i);
        db.create_village(&t, v.as_str(), &format!("压测{i}村")).await?;
        let roster = sample::roster(&v, year, 12, 2);
        let key = DocKey { township: t.clone(), village: v.clone(), year };
        zhibu_server::edit::server_edit(state, &key, "admin", "导入党员名册", |tx, _| {
            for (id, m) in &roster.members {
                mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("seeding {v}: {e}"))?;
        let cadre = format!("load-c{i:04}");
        let member = format!("{v}-m01");
        for (id, role, member_id) in [(&cadre, "cadre", None), (&member, "member", Some(&member))] {
            sqlx::query(insert)
                .bind(id)
                .bind(&hash)
                .bind(role)
                .bind(&t)
                .bind(v.as_str())
                .bind(member_id)
                .execute(&db.pool)
                .await?;
        }
        tokens.cadres.push(db.issue_token(&cadre, 1).await?);
        tokens.members.push(db.issue_token(&member, 1).await?);
    }
    Ok(tokens)
}

/// What a connection does.
#[derive(Debug, Clone, Copy)]
enum Role {
    StandardPhone,
    FastPhone,
    Member,
    Township,
    Probe,
}

fn role_of(i: usize) -> Role {
    match i % 10 {
        0..=3 => Role::StandardPhone,
        4..=6 => Role::FastPhone,
        7 => Role::Member,
        8 => Role::Township,
        _ => Role::Probe,
    }
}

type Tally = BTreeMap<&'static str, KindFigures>;

fn note(tally: &mut Tally, kind: &'static str, started: Instant, status: Result<(), u16>) {
    let k = tally.entry(kind).or_default();
    k.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    match status {
        Ok(()) => k.ok += 1,
        Err(s) => *k.failed.entry(s).or_default() += 1,
    }
}

fn refused(r: Result<(), Refused>) -> Result<(), u16> {
    r.map_err(|e| e.status)
}

async fn get(server: &Remote, token: &str, path: &str) -> Result<(), u16> {
    let r = server.http.get(format!("{}{path}", server.url)).bearer_auth(token).send().await.map_err(|_| 0u16)?;
    let status = r.status().as_u16();
    r.bytes().await.map_err(|_| 0u16)?;
    if status == 200 { Ok(()) } else { Err(status) }
}

fn award(by: &str, village: &VillageId, year: Year, n: usize) -> (RecordId, PointEntry) {
    let p = PointEntry {
        member_id: MemberId::parse(&format!("{village}-m{:02}", n % 12 + 1)).expect("id"),
        rule: Code::parse("volunteer").expect("code"),
        delta: PointDelta::new(1 + (n % 3) as i64).expect("delta"),
        on: year.first_day(),
        note: None,
        by: AccountId::parse(by).expect("id"),
        voided: None,
    };
    (RecordId::new_v7(), p)
}

fn put(tx: &mut automerge::transaction::Transaction<'_>, id: &RecordId, p: &PointEntry) -> Result<(), WriteError> {
    mapping::put_record_id(tx, Collection::Points, id, p)
}

/// One connection's loop until the deadline.
async fn connection(i: usize, url: String, year: Year, tokens: Arc<Tokens>, opts: Options, deadline: Instant) -> Tally {
    let mut tally = Tally::new();
    let client =
        crate::http().timeout(Duration::from_secs(60)).pool_max_idle_per_host(1).http1_only().build().expect("client");
    let server = Remote { url, http: client, year };
    // Villages and roles drawn independently (a multiplicative hash), so every village has
    // phones of both protocols and readers.
    let vi = i.wrapping_mul(2_654_435_761) % opts.villages;
    let v = village(vi);
    let cadre = format!("load-c{vi:04}");
    let path_doc = format!("/v1/villages/{v}/years/{year}/doc");
    let mut standard = RawPhone::new(&server, &tokens.cadres[vi], &format!("load-s{i:05}"), v.as_str());
    let mut fast = FastPhone::new(&server, &tokens.cadres[vi], &format!("load-f{i:05}"), v.as_str());
    let think = opts.think.as_millis().max(1) as u64;
    // Spread the start over the first think time, as phones do not all connect at one instant.
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..think))).await;
    let mut n = 0;
    while Instant::now() < deadline {
        let started = Instant::now();
        n += 1;
        match role_of(i) {
            Role::StandardPhone if n % 3 != 1 => {
                let (id, p) = award(&cadre, &v, year, n);
                standard.edit("奖励积分", |tx| put(tx, &id, &p));
                let r = refused(standard.sync(&server).await);
                note(&mut tally, "sync_standard", started, r);
            }
            Role::FastPhone if n % 3 != 1 => {
                let (id, p) = award(&cadre, &v, year, n);
                fast.edit("奖励积分", |tx| put(tx, &id, &p));
                let r = refused(fast.sync(&server).await);
                note(&mut tally, "sync_fast", started, r);
            }
            // A phone's first request, and every third after, reads its document (as a phone
            // opening the app does), so even a short run reads documents.
            Role::StandardPhone | Role::FastPhone => {
                let r = get(&server, &tokens.cadres[vi], &path_doc).await;
                note(&mut tally, "read_doc", started, r);
            }
            Role::Member => {
                let r = get(&server, &tokens.members[vi], &format!("/v1/me/points?year={year}")).await;
                note(&mut tally, "read_points", started, r);
            }
            Role::Township => {
                let t = township(vi);
                let (kind, path) = if n % 5 == 0 {
                    ("read_report_csv", format!("/v1/townships/{t}/report.csv?year={year}&period=q{}", n % 4 + 1))
                } else {
                    ("read_report", format!("/v1/townships/{t}/report?year={year}"))
                };
                let r = get(&server, &tokens.staff[vi / TOWNSHIP_SIZE], &path).await;
                note(&mut tally, kind, started, r);
            }
            Role::Probe => {
                let (kind, path) = if n % 2 == 0 { ("healthz", "/healthz") } else { ("read_catalog", "/v1/catalog") };
                let r = get(&server, &tokens.cadres[vi], path).await;
                note(&mut tally, kind, started, r);
            }
        }
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..think))).await;
    }
    tally
}

/// Seeds `database_url`, starts the server with `server` (a command for the server program,
/// without the listen and database arguments), loads it, and reports.
pub async fn run(server: Command, database_url: &str, opts: &Options) -> anyhow::Result<Report> {
    let year = zhibu_server::api::this_year();
    let state = zhibu_server::state(Config::for_tests(database_url.to_owned())).await?;
    let tokens = Arc::new(seed(&state, opts.villages, year).await?);
    state.db.pool.close().await;

    let child = ServerChild::start(server, database_url)?;
    let pid = child.pid();
    let rss = |f| proc_status_mb(pid, f).unwrap_or(0.0);
    let mut report = Report {
        connections: opts.connections,
        rss_start_mb: rss("VmRSS:"),
        max_rss_mb: opts.max_rss_mb,
        open_files_limit: open_files_limit(),
        ..Report::default()
    };
    let started = Instant::now();
    let deadline = started + opts.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..opts.connections {
        tasks.spawn(connection(i, child.url.clone(), year, tokens.clone(), opts.clone(), deadline));
    }
    let mut sampled: f64 = 0.0;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(tally) => {
                    for (kind, k) in tally.context("a connection task failed")? {
                        let into = report.kinds.entry(kind).or_default();
                        into.ok += k.ok;
                        into.latencies_ms.extend(k.latencies_ms);
                        for (s, n) in k.failed {
                            *into.failed.entry(s).or_default() += n;
                        }
                    }
                }
                None => break,
            },
            _ = tick.tick() => sampled = sampled.max(rss("VmRSS:")),
        }
    }
    report.wall = started.elapsed();
    report.rss_max_sampled_mb = sampled.max(rss("VmRSS:"));
    report.rss_end_mb = rss("VmRSS:");
    report.rss_peak_mb = rss("VmHWM:");
    drop(child);
    Ok(report)
}
