//! Migrations that change how stored rows are laid out keep what the rows said: each test
//! stores rows as the migrations before it left them, runs the rest as the server does at
//! start, and reads them back the new way.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use sqlx::{AnyPool, Row};
use zhibu_server::db::Db;
use zhibu_server::db::documents::pack_snapshot;
use zhibu_tests::{Backend, TestDb, backends};

/// A new database with every migration run up to the one whose description contains
/// `migration` (not that one), and a connection to it.
async fn before_migration(backend: Backend, migration: &str) -> Option<(TestDb, AnyPool)> {
    let db = TestDb::create(backend).await?;
    sqlx::any::install_default_drivers();
    let url = match backend {
        Backend::Sqlite => format!("{}?mode=rwc", db.url),
        Backend::Postgres => db.url.clone(),
    };
    let pool = AnyPool::connect(&url).await.expect("connect");
    let migrator = zhibu_server::db::migrator(match backend {
        Backend::Sqlite => zhibu_server::db::Backend::Sqlite,
        Backend::Postgres => zhibu_server::db::Backend::Postgres,
    });
    let found = migrator.iter().find(|m| m.description.contains(migration)).expect("the migration");
    migrator.run_to(found.version - 1, &pool).await.expect("the migrations before it");
    Some((db, pool))
}

/// A database from before attendance moved into its meeting's row keeps every attendance row
/// through the migration: the `p_attendance` view gives them back, and each meeting's column
/// is the text a push writes (members in order, `makeup_on` only when set).
async fn attendance_rows_survive_their_migration(backend: Backend) {
    let Some((db, pool)) = before_migration(backend, "attendance in meetings").await else { return };
    for (meeting, present) in [("m1", 1), ("m2", 0)] {
        sqlx::query(
            "INSERT INTO p_meetings (township_id, village_id, year, meeting_id, kind, held_on, topic, grp, voided, \
             present, quorum_due, quorum_met, first_seen_at, late_days) \
             VALUES ('t1', 'v1', 2026, $1, 'branch_assembly', '2026-02-10', '学习', NULL, 0, $2, NULL, NULL, 0, NULL)",
        )
        .bind(meeting)
        .bind(present)
        .execute(&pool)
        .await
        .expect("meeting row");
    }
    let rows = [("v1-m02", "absent", Some("2026-02-15")), ("v1-m01", "present", None), ("v1-m10", "leave", None)];
    for (member, status, makeup) in rows {
        sqlx::query(
            "INSERT INTO p_attendance (township_id, village_id, year, meeting_id, member_id, status, makeup_on) \
             VALUES ('t1', 'v1', 2026, 'm1', $1, $2, $3)",
        )
        .bind(member)
        .bind(status)
        .bind(makeup)
        .execute(&pool)
        .await
        .expect("attendance row");
    }
    pool.close().await;

    let migrated = Db::connect(&db.url).await.expect("the rest of the migrations");
    let read: Vec<(String, String, String, Option<String>)> = sqlx::query(
        "SELECT meeting_id, member_id, status, makeup_on FROM p_attendance WHERE village_id = 'v1' \
         ORDER BY meeting_id, member_id",
    )
    .fetch_all(&migrated.pool)
    .await
    .expect("the view")
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    let expected = vec![
        ("m1".to_owned(), "v1-m01".to_owned(), "present".to_owned(), None),
        ("m1".to_owned(), "v1-m02".to_owned(), "absent".to_owned(), Some("2026-02-15".to_owned())),
        ("m1".to_owned(), "v1-m10".to_owned(), "leave".to_owned(), None),
    ];
    assert_eq!(read, expected);
    let columns: Vec<String> = sqlx::query("SELECT attendance FROM p_meetings ORDER BY meeting_id")
        .fetch_all(&migrated.pool)
        .await
        .expect("meetings")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let m1 = r#"{"v1-m01":{"status":"present"},"v1-m02":{"status":"absent","makeup_on":"2026-02-15"},"v1-m10":{"status":"leave"}}"#;
    assert_eq!(columns, [m1, "{}"]);
}
backends!(attendance_rows_survive_their_migration, attendance_rows_survive_their_migration);

/// A database from before changes kept the version that stored them: the changes flagged as
/// folded into the snapshot stay folded, the others are loaded on top of it, and a document
/// loads whole.
async fn pending_changes_survive_their_migration(backend: Backend) {
    let Some((db, pool)) = before_migration(backend, "pending by version").await else { return };
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "a", 1).expect("put");
    let folded = doc.get_last_local_change().expect("change").clone();
    let snapshot = pack_snapshot(doc.document());
    doc.put(ROOT, "b", 2).expect("put");
    let pending = doc.get_last_local_change().expect("change").clone();
    sqlx::query(
        "INSERT INTO documents (township_id, village_id, year, snapshot, version, heads, updated_at) \
         VALUES ('t1', 'v1', 2026, $1, 2, '', 0)",
    )
    .bind(snapshot)
    .execute(&pool)
    .await
    .expect("document row");
    for (change, compacted) in [(&folded, 1), (&pending, 0)] {
        sqlx::query(
            "INSERT INTO changes (township_id, village_id, year, hash, actor, seq, account_id, peer_id, device_time, \
             received_at, message, data, compacted) \
             VALUES ('t1', 'v1', 2026, $1, $2, $3, 'cadre1', 'phone-a', 0, 0, NULL, $4, $5)",
        )
        .bind(change.hash().to_string())
        .bind(change.actor_id().to_hex_string())
        .bind(change.seq() as i64)
        .bind(change.raw_bytes().to_vec())
        .bind(compacted)
        .execute(&pool)
        .await
        .expect("change row");
    }
    pool.close().await;

    let migrated = Db::connect(&db.url).await.expect("the rest of the migrations");
    let key = zhibu_server::db::documents::DocKey {
        township: "t1".into(),
        village: zhibu_schema::VillageId::parse("v1").expect("id"),
        year: zhibu_schema::Year::new(2026).expect("year"),
    };
    let loaded = migrated.load_doc(&key).await.expect("load");
    assert_eq!(loaded.pending, 1, "only the change not folded into the snapshot is pending");
    assert_eq!(loaded.doc.get_heads(), vec![pending.hash()]);
    assert_eq!(migrated.change_log(&key).await.expect("log").len(), 2, "the log keeps both");
}
backends!(pending_changes_survive_their_migration, pending_changes_survive_their_migration);

/// Rows stored before early entries (提前录入) were told get them in the migration as a push
/// would make them: dated after the day, in China Standard Time, the server first saw them;
/// never a step of a voided case.
async fn early_entries_are_found_in_rows_stored_before(backend: Backend) {
    let Some((db, pool)) = before_migration(backend, "early entries").await else { return };
    let ms = |rfc3339: &str| {
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .expect("time")
    };
    // 04:00, 23:00 and 01:00 Beijing time.
    for (meeting, seen) in
        [("m1", "2026-03-05T20:00:00Z"), ("m2", "2026-03-10T15:00:00Z"), ("m3", "2026-03-09T17:00:00Z")]
    {
        sqlx::query(
            "INSERT INTO p_meetings (township_id, village_id, year, meeting_id, kind, held_on, topic, grp, voided, \
             present, quorum_due, quorum_met, first_seen_at, late_days) \
             VALUES ('t1', 'v1', 2026, $1, 'branch_assembly', '2026-03-10', '学习', NULL, 0, 0, NULL, NULL, $2, NULL)",
        )
        .bind(meeting)
        .bind(ms(seen))
        .execute(&pool)
        .await
        .expect("meeting row");
    }
    for (case, voided) in [("c1", 0), ("c2", 1)] {
        sqlx::query(
            "INSERT INTO p_cases (township_id, village_id, year, case_id, item, title, opened_on, closed_on, voided, \
             gap_count, gaps) VALUES ('t1', 'v1', 2026, $1, 'certificate', '证明', '2026-03-30', NULL, $2, 0, '[]')",
        )
        .bind(case)
        .bind(voided)
        .execute(&pool)
        .await
        .expect("case row");
        sqlx::query(
            "INSERT INTO p_case_steps (township_id, village_id, year, case_id, step, done_on, first_seen_at, late_days) \
             VALUES ('t1', 'v1', 2026, $1, 'issue', '2026-04-02', $2, NULL)",
        )
        .bind(case)
        .bind(ms("2026-03-31T00:00:00Z"))
        .execute(&pool)
        .await
        .expect("step row");
    }
    pool.close().await;

    let migrated = Db::connect(&db.url).await.expect("the rest of the migrations");
    let meetings: Vec<(String, Option<i64>)> =
        sqlx::query("SELECT meeting_id, early_days FROM p_meetings ORDER BY meeting_id")
            .fetch_all(&migrated.pool)
            .await
            .expect("meetings")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(meetings, [("m1".to_owned(), Some(4)), ("m2".to_owned(), None), ("m3".to_owned(), None)]);
    let steps: Vec<(String, Option<i64>)> =
        sqlx::query("SELECT case_id, early_days FROM p_case_steps ORDER BY case_id")
            .fetch_all(&migrated.pool)
            .await
            .expect("steps")
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    assert_eq!(steps, [("c1".to_owned(), Some(2)), ("c2".to_owned(), None)]);
}
backends!(early_entries_are_found_in_rows_stored_before, early_entries_are_found_in_rows_stored_before);
