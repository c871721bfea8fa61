//! A phone back after weeks away syncs in one round trip: the fast request names the phone's
//! catalog and the reply says whether it is still the one in force (bringing the new one when
//! not), so the phone does not ask for the catalog separately; and both go deflated.

use std::path::Path;

use tempfile::TempDir;
use zhibu_client::{HttpTransport, NewPoints, Phone, SyncOptions, SyncReport};
use zhibu_schema::{Catalog, Code, MemberId, PointDelta};
use zhibu_tests::bench::wire::{CountingProxy, Wire};
use zhibu_tests::{Backend, PASSWORD, TestApp, backends};

/// The phone's catalog as if it was fetched `days` ago (the phone's clock cannot be moved).
fn age_catalog(phone: Phone, dir: &Path, days: i64) -> Phone {
    drop(phone);
    let path = dir.join("catalog.json");
    let mut cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    let then = zhibu_client::clock::now() - time::Duration::days(days);
    cached["fetched_at"] = serde_json::Value::String(zhibu_client::clock::format(then));
    std::fs::write(&path, serde_json::to_vec(&cached).expect("json")).expect("write");
    Phone::open(dir).expect("reopens")
}

async fn sync(phone: &Phone, proxy: &CountingProxy) -> (SyncReport, Wire) {
    let before = proxy.snapshot();
    let transport = HttpTransport::for_phone(phone).expect("transport");
    let report = phone.sync(&transport, &SyncOptions::no_retry(), &mut |_| {}).await.expect("syncs");
    assert!(report.refusals().next().is_none(), "{report:?}");
    (report, proxy.snapshot() - before)
}

async fn phone_back_after_a_month(backend: Backend) -> Option<(TestApp, CountingProxy, Phone, TempDir)> {
    let app = TestApp::start(backend).await?;
    let proxy = CountingProxy::start(&app.url).await.expect("proxy");
    let dir = tempfile::tempdir().expect("dir");
    let phone = Phone::open(dir.path()).expect("opens");
    zhibu_client::login(&phone, &proxy.url, "cadre1", PASSWORD).await.expect("login");
    sync(&phone, &proxy).await;
    let phone = age_catalog(phone, dir.path(), 31);
    for n in 1..=5 {
        phone
            .award_points(&NewPoints {
                member_id: MemberId::parse(&format!("v1-m{n:02}")).expect("id"),
                rule: Code::parse("volunteer").expect("rule"),
                delta: PointDelta::new(2).expect("delta"),
                on: app.year.first_day(),
                note: None,
            })
            .expect("recorded");
    }
    Some((app, proxy, phone, dir))
}

async fn one_round_trip_when_the_catalog_is_unchanged(backend: Backend) {
    let Some((_app, proxy, phone, _dir)) = phone_back_after_a_month(backend).await else { return };
    let (report, wire) = sync(&phone, &proxy).await;
    assert_eq!(wire.round_trips, 1, "{wire:?}");
    assert!(!report.catalog_updated);
    let fetched = phone.catalog_fetched_at().expect("fetched");
    let fetched = zhibu_client::clock::parse(&fetched).expect("a time");
    assert!(zhibu_client::clock::now() - fetched < time::Duration::minutes(5), "the catalog counts as fresh again");
    let (_, again) = sync(&phone, &proxy).await;
    assert_eq!(again.round_trips, 1, "{again:?}");
}
backends!(one_round_trip_when_the_catalog_is_unchanged, one_round_trip_when_the_catalog_is_unchanged);

async fn a_new_catalog_comes_with_the_reply(backend: Backend) {
    let Some((app, proxy, phone, _dir)) = phone_back_after_a_month(backend).await else { return };
    let catalog = Catalog { base_score: 90, ..Catalog::default() };
    let json = serde_json::to_string(&catalog).expect("json");
    app.state.db.set_township_catalog("t1", Some(&json)).await.expect("set");
    let (report, wire) = sync(&phone, &proxy).await;
    assert_eq!(wire.round_trips, 1, "{wire:?}");
    assert!(report.catalog_updated);
    assert_eq!(phone.catalog().base_score, 90);
}
backends!(a_new_catalog_comes_with_the_reply, a_new_catalog_comes_with_the_reply);

async fn requests_and_replies_go_deflated(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let body = zhibu_schema::sync::FastRequest { v: 1, docs: vec![], catalog: Some(String::new()) }.encode();
    let deflated = {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&body).expect("write");
        e.finish().expect("finish")
    };
    let r = app
        .http
        .post(format!("{}/v1/sync", app.url))
        .bearer_auth(&token)
        .header("X-Peer-Id", "deflating-phone")
        .header("Content-Type", "application/cbor")
        .header("Content-Encoding", "deflate")
        .header("Accept-Encoding", "deflate")
        .body(deflated)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("content-encoding").and_then(|v| v.to_str().ok()), Some("deflate"));
    let bytes = r.bytes().await.expect("body");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&bytes[..]), &mut plain).expect("inflates");
    let reply = zhibu_schema::sync::FastResponse::decode(&plain).expect("decodes");
    assert!(reply.catalog.and_then(|c| c.catalog).is_some(), "an unknown digest gets the catalog");
}
backends!(requests_and_replies_go_deflated, requests_and_replies_go_deflated);
