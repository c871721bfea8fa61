//! Case 2: a new phone pulls a full year of a busy village (12 months of the generated
//! records, one change per user action as the phones made them) with the real `Phone::sync`
//! over HTTP, through the counting proxy. The login before it is not counted.

use std::time::Instant;

use tempfile::TempDir;
use zhibu_client::{HttpTransport, Phone, SyncOptions};
use zhibu_schema::VillageId;

use super::figures::ms_since;
use super::server::{self, BenchDb, PASSWORD};
use super::wire::CountingProxy;
use super::{Figures, data};

/// Runs the case; returns the phone's store (holding the busy year) for the client case.
pub async fn run(figures: &mut Figures) -> anyhow::Result<TempDir> {
    let year = super::year();
    let db = BenchDb::sqlite()?;
    let state = server::seeding_state(&db).await?;
    state.db.create_township("bench", "基准镇").await?;
    state.db.create_village("bench", "f1", "满年村").await?;
    let village = VillageId::parse("f1")?;
    let key = zhibu_server::db::documents::DocKey { township: "bench".into(), village: village.clone(), year };
    server::store_new_doc(&state, &key, data::village_doc(&village, year, 1..=12, true)).await?;
    let user = data::cadre_account(&village, 'a');
    server::create_accounts(&state, vec![server::cadre(user.as_str(), "bench", &village)]).await?;
    state.db.pool.close().await;

    let server = server::start(&db, &[])?;
    let proxy = CountingProxy::start(&server.url).await?;
    let dir = tempfile::tempdir()?;
    let phone = Phone::open(dir.path())?;
    zhibu_client::login(&phone, &proxy.url, user.as_str(), PASSWORD).await?;
    let transport = HttpTransport::for_phone(&phone)?;
    let w0 = proxy.snapshot();
    let t0 = Instant::now();
    let report = phone.sync(&transport, &SyncOptions::once(), &mut |_| {}).await?;
    let ms = ms_since(t0);
    let wire = proxy.snapshot() - w0;
    anyhow::ensure!(report.refusals().next().is_none(), "the server refused: {report:?}");
    let records = phone.records(year)?;
    anyhow::ensure!(records.meetings.len() == 12 * data::MEETINGS_PER_MONTH, "the phone lacks meetings");
    let received: usize = report.docs.iter().map(|d| d.received).sum();
    figures.add("first_sync_bytes", (wire.up + wire.down) as f64, "bytes");
    figures.add("first_sync_ms", ms, "ms");
    figures.add("first_sync_round_trips", wire.round_trips as f64, "round_trips");
    let saved = phone.document(&zhibu_client::DocKey::new(village, year)).map_or(0, |d| d.clone().save().len());
    figures.note(format!(
        "first sync: {received} changes, {} bytes down; the document saved whole is {saved} bytes",
        wire.down
    ));
    Ok(dir)
}
