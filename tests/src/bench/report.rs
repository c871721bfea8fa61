//! Case 4: the township report while the database holds a city: villages of 50 members in
//! townships of 20, each with a year of records (the generated busy year), stored through the
//! server's own admission and storage path. The reports are read over HTTP from the real server
//! program, as a township's staff or the city's admin would.
//!
//! The seeded records were all first seen by the server today, which would make every one of
//! them a late entry (补录); a year entered as it happened has few. So after seeding, the
//! meetings and case steps of all months but one (July, by the month in their generated ids)
//! are marked as entered on time in the projection rows, as the server would have marked them
//! had it seen them when they happened.
//!
//! Figures: the township report (JSON) p50 and p99 over townships in turn, and the city rollup:
//! every township's report, one after the other, as the city's admin fetches them.

use std::time::Instant;

use sqlx::Executor;
use zhibu_schema::{VillageId, Year};
use zhibu_server::db::documents::DocKey;

use super::figures::{ms_since, percentile};
use super::server::{self, BenchDb};
use super::{Figures, Scale, data};

pub async fn run(figures: &mut Figures, scale: &Scale) -> anyhow::Result<()> {
    let year = super::year();
    let db = BenchDb::sqlite()?;
    let state = server::seeding_state(&db).await?;
    let townships: Vec<String> =
        (1..=scale.city_villages.div_ceil(scale.township_size)).map(|t| format!("c{t:03}")).collect();
    for t in &townships {
        state.db.create_township(t, "基准镇").await?;
    }
    let villages: Vec<(String, VillageId)> = (0..scale.city_villages)
        .map(|i| {
            let t = &townships[i / scale.township_size];
            Ok((t.clone(), VillageId::parse(&format!("{t}-v{:02}", i % scale.township_size + 1))?))
        })
        .collect::<anyhow::Result<_>>()?;
    let t0 = Instant::now();
    seed_city(&state, &villages, year).await?;
    mark_on_time(&state).await?;
    server::create_accounts(&state, vec![server::admin("bench-admin")]).await?;
    state.db.pool.close().await;
    figures.note(format!("report: seeded {} villages in {:.0} s", villages.len(), t0.elapsed().as_secs_f64()));

    let server = server::start(&db, &[])?;
    let token = server::token(&server, "bench-admin").await?;
    let fetch = |t: &str| {
        let url = format!("{}/v1/townships/{t}/report?year={year}", server.url);
        let request = server.http.get(url).bearer_auth(&token);
        async move {
            let r = request.send().await?;
            anyhow::ensure!(r.status() == 200, "report: {}", r.status());
            Ok(r.bytes().await?.len())
        }
    };
    fetch(&townships[0]).await?;
    let mut samples = Vec::new();
    let mut size = 0;
    for i in 0..scale.report_samples {
        let t0 = Instant::now();
        size = fetch(&townships[i % townships.len()]).await?;
        samples.push(ms_since(t0));
    }
    figures.add("report_p50_ms", percentile(&samples, 50.0), "ms");
    figures.add("report_p99_ms", percentile(&samples, 99.0), "ms");
    let t0 = Instant::now();
    for t in &townships {
        fetch(t).await?;
    }
    figures.add("city_rollup_ms", ms_since(t0), "ms");
    figures.note(format!(
        "report: one township's report is {size} bytes of JSON; the rollup reads {} townships",
        townships.len()
    ));
    Ok(())
}

/// Stores every village's year: documents are made on worker threads while this task stores
/// them, one transaction each.
async fn seed_city(state: &zhibu_server::AppState, villages: &[(String, VillageId)], year: Year) -> anyhow::Result<()> {
    for (t, v) in villages {
        state.db.create_village(t, v.as_str(), "基准村").await?;
    }
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let (tx, mut rx) = tokio::sync::mpsc::channel(workers * 2);
    let chunk = villages.len().div_ceil(workers).max(1);
    let mut threads = Vec::new();
    for part in villages.chunks(chunk) {
        let part = part.to_vec();
        let tx = tx.clone();
        threads.push(std::thread::spawn(move || {
            for (t, v) in part {
                let doc = data::village_doc(&v, year, 1..=12, false);
                if tx.blocking_send((DocKey { township: t, village: v, year }, doc)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    while let Some((key, doc)) = rx.recv().await {
        server::store_new_doc(state, &key, doc).await?;
    }
    for t in threads {
        t.join().map_err(|_| anyhow::anyhow!("a generating thread panicked"))?;
    }
    Ok(())
}

/// Marks the meetings and case steps of every month but July as entered on time (see the
/// module documentation).
async fn mark_on_time(state: &zhibu_server::AppState) -> anyhow::Result<()> {
    for sql in [
        "UPDATE p_meetings SET late_days = NULL WHERE substr(meeting_id, 29, 2) <> '07'",
        "UPDATE p_case_steps SET late_days = NULL WHERE substr(case_id, 29, 2) <> '07'",
    ] {
        state.db.pool.execute(sql).await?;
    }
    Ok(())
}
