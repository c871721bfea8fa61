//! The projections kept up to date push by push (only changed rows rewritten) equal a full
//! rebuild from the stored document.

use sqlx::Row;
use zhibu_schema::{
    AccountId, Attendance, Case, Code, Collection, Line, Meeting, MeetingKind, MemberId, PointDelta, PointEntry, Prose,
    RecordId, Step, Voided, mapping,
};
use zhibu_tests::raw_phone::RawPhone;
use zhibu_tests::{Backend, TestApp, backends};

const TABLES: [&str; 8] =
    ["p_members", "p_meetings", "p_attendance", "p_points", "p_cases", "p_case_steps", "p_compliance", "record_seen"];

async fn dump(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for t in TABLES {
        let sql = format!("SELECT * FROM {t} WHERE village_id = 'v1'");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&app.state.db.pool).await.expect("dump");
        for r in rows {
            let cols: Vec<String> = (0..r.len())
                .map(|i| {
                    r.try_get::<Option<String>, _>(i)
                        .map(|v| format!("{v:?}"))
                        .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                        .unwrap_or_else(|_| "?".into())
                })
                .collect();
            out.push(format!("{t}: {}", cols.join(" | ")));
        }
    }
    out.sort();
    out
}

async fn incremental_equals_rebuild(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else { return };
    let token = app.token("cadre1").await;
    let mut phone = RawPhone::new(&app, &token, "phone-a", "v1");
    phone.sync(&app).await.expect("first sync");
    let members: Vec<MemberId> = mapping::read(&phone.doc).expect("r").doc.members.keys().cloned().collect();
    let by = AccountId::parse("cadre1").expect("id");
    let day = |n| app.year.first_day().add_days(n).expect("day");
    let meeting = RecordId::new_v7();
    let mut m = Meeting::new(MeetingKind::BranchAssembly, day(40), Line::parse("学习").expect("l"));
    for id in &members {
        m.attendance.insert(id.clone(), Attendance::present());
    }
    phone.edit("记录会议", |tx| mapping::put_record_id(tx, Collection::Meetings, &meeting, &m));
    phone.sync(&app).await.expect("sync");
    for id in members.iter().take(8) {
        let a = Attendance { makeup_on: Some(day(45)), ..Attendance::absent() };
        phone.edit("修改考勤", |tx| {
            mapping::put_at(tx, &["meetings", meeting.as_str(), "attendance", id.as_str()], &a)
        });
        phone.sync(&app).await.expect("sync");
    }
    let entry = RecordId::new_v7();
    let p = PointEntry {
        member_id: members[0].clone(),
        rule: Code::parse("honour").expect("c"),
        delta: PointDelta::new(6).expect("d"),
        on: day(50),
        note: Some(Prose::parse("县级表彰").expect("p")),
        by: by.clone(),
        voided: None,
    };
    phone.edit("奖励积分", |tx| mapping::put_record_id(tx, Collection::Points, &entry, &p));
    phone.sync(&app).await.expect("sync");
    let v = Voided { reason: Prose::parse("录错").expect("p"), by: by.clone() };
    phone.edit("作废积分", |tx| mapping::put_at(tx, &["points", entry.as_str(), "voided"], &v));
    let case = RecordId::new_v7();
    let c = Case::new(Code::parse("certificate").expect("c"), Line::parse("居住证明").expect("l"), day(60));
    phone.edit("开始办理事项", |tx| mapping::put_record_id(tx, Collection::Cases, &case, &c));
    phone.sync(&app).await.expect("sync");
    let s = Step::new(day(61), by.clone(), None);
    phone.edit("完成步骤", |tx| mapping::put_at(tx, &["cases", case.as_str(), "steps", "application"], &s));
    phone.edit("改小组", |tx| mapping::put_at(tx, &["members", members[3].as_str(), "group"], "第九党小组"));
    phone.sync(&app).await.expect("sync");

    let incremental = dump(&app).await;
    assert!(incremental.iter().any(|r| r.starts_with("p_case_steps")), "the dump sees the rows");
    // The meeting's attendance, read back through the p_attendance view: a row per member,
    // eight of them absent with a make-up date.
    let attendance: Vec<&String> = incremental.iter().filter(|r| r.starts_with("p_attendance:")).collect();
    assert_eq!(attendance.len(), members.len(), "{attendance:#?}");
    let made_up = format!("\"absent\") | Some(\"{}\")", day(45));
    assert_eq!(attendance.iter().filter(|r| r.ends_with(&made_up)).count(), 8, "{attendance:#?}");
    let key = app.doc_key("v1");
    let records = app.records("v1").await;
    let mut tx = app.state.db.pool.begin().await.expect("tx");
    let catalog = zhibu_schema::Catalog::default();
    zhibu_server::db::projections::update(&mut tx, &key, None, &records, &catalog, zhibu_server::db::now_ms())
        .await
        .expect("rebuild");
    tx.commit().await.expect("commit");
    assert_eq!(incremental, dump(&app).await);
}
backends!(incremental_projections_equal_a_full_rebuild, incremental_equals_rebuild);
