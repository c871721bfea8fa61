//! Projections: relational rows derived from a village-year document, rebuilt in the same
//! transaction as every accepted push, so the township report is SQL over small tables, never
//! a scan of documents. Figures come from zhibu-schema, the same functions the phones run.

use std::collections::HashMap;

use sqlx::{Any, Row, Transaction};
use zhibu_schema::{Catalog, Date, Period, VillageYear, all_scores, case_gaps, compliance, late_by, quorum};

use super::documents::DocKey;

/// One value of a row to insert.
#[derive(Debug, Clone)]
enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// What an insert does with a row whose key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnConflict {
    Fail,
    Keep,
}

/// Inserts rows in batches: one statement per hundred rows instead of one per row.
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Val>>,
    on_conflict: OnConflict,
) -> anyhow::Result<()> {
    for chunk in rows.chunks(100) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for j in 0..row.len() {
                n += 1;
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${n}"));
            }
            sql.push(')');
        }
        if on_conflict == OnConflict::Keep {
            sql.push_str(" ON CONFLICT DO NOTHING");
        }
        // Table and column names come from this module's constants; values are bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Val::Text(s) => q.bind(s.clone()),
                    Val::OptText(s) => q.bind(s.clone()),
                    Val::Int(i) => q.bind(*i),
                    Val::OptInt(i) => q.bind(*i),
                };
            }
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

fn key_vals(key: &DocKey) -> [Val; 3] {
    [Val::Text(key.township.clone()), Val::Text(key.village.to_string()), Val::Int(i64::from(key.year))]
}

fn row(key: &DocKey, rest: impl IntoIterator<Item = Val>) -> Vec<Val> {
    key_vals(key).into_iter().chain(rest).collect()
}

const TABLES: [&str; 7] =
    ["p_members", "p_meetings", "p_attendance", "p_points", "p_cases", "p_case_steps", "p_compliance"];

/// The period's short code: `2026-03`, `2026-q1` or `2026`.
pub fn period_code(year: zhibu_schema::Year, p: Period) -> String {
    match p {
        Period::Month(m) => format!("{year}-{m:02}"),
        Period::Quarter(q) => format!("{year}-q{q}"),
        Period::Year => format!("{year}"),
    }
}

fn day_of(ms: i64) -> Date {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // China Standard Time: a record received at 01:00 Beijing time was received that day.
    let t = t.to_offset(time::macros::offset!(+8));
    Date::from_time(t.date()).unwrap_or_else(|_| zhibu_schema::Year::new(2000).expect("valid").first_day())
}

/// Rebuilds every projection of one document from its records.
pub async fn rebuild(
    tx: &mut Transaction<'static, Any>,
    key: &DocKey,
    doc: &VillageYear,
    catalog: &Catalog,
    received_at: i64,
) -> anyhow::Result<()> {
    let (t, v, y) = (&key.township, key.village.as_str(), i64::from(key.year));

    // When the server first saw each meeting and case step: the basis of late entries.
    let mut seen_keys: Vec<String> = doc.meetings.keys().map(|id| format!("meeting:{id}")).collect();
    for (id, case) in &doc.cases {
        seen_keys.extend(case.steps.keys().map(|s| format!("step:{id}:{s}")));
    }
    let rows = seen_keys.into_iter().map(|k| row(key, [Val::Text(k), Val::Int(received_at)])).collect();
    let columns = ["township_id", "village_id", "year", "record_key", "first_seen_at"];
    insert_rows(tx, "record_seen", &columns, rows, OnConflict::Keep).await?;
    let seen: HashMap<String, i64> = sqlx::query(
        "SELECT record_key, first_seen_at FROM record_seen WHERE township_id = $1 AND village_id = $2 AND year = $3",
    )
    .bind(t)
    .bind(v)
    .bind(y)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("record_key")?, r.try_get("first_seen_at")?)))
    .collect::<anyhow::Result<_>>()?;
    let first_seen = |k: &str| seen.get(k).copied().unwrap_or(received_at);

    for table in TABLES {
        let sql = format!("DELETE FROM {table} WHERE township_id = $1 AND village_id = $2 AND year = $3");
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).bind(v).bind(y).execute(&mut **tx).await?;
    }

    let scores = all_scores(doc, catalog);
    let members = doc
        .members
        .iter()
        .zip(&scores)
        .map(|((id, m), s)| {
            row(
                key,
                [
                    Val::Text(id.to_string()),
                    Val::Text(m.name.to_string()),
                    Val::OptText(m.group.as_ref().map(ToString::to_string)),
                    Val::Text(m.status.code().to_owned()),
                    Val::Int(i64::from(m.committee)),
                    Val::Int(i64::from(s.total)),
                    Val::OptText(s.grade.map(|g| g.code().to_owned())),
                ],
            )
        })
        .collect();
    insert_rows(
        tx,
        "p_members",
        &["township_id", "village_id", "year", "member_id", "name", "grp", "status", "committee", "score", "grade"],
        members,
        OnConflict::Fail,
    )
    .await?;

    let mut meetings = Vec::new();
    let mut attendance = Vec::new();
    for (id, m) in &doc.meetings {
        let rule = catalog.requirement(m.kind).map(|r| r.quorum);
        let q = rule.and_then(|r| quorum(doc, m, r));
        let present =
            m.attendance.values().filter(|a| a.status == zhibu_schema::AttendanceStatus::Present).count() as i64;
        let seen_at = first_seen(&format!("meeting:{id}"));
        meetings.push(row(
            key,
            [
                Val::Text(id.to_string()),
                Val::Text(m.kind.code().to_owned()),
                Val::Text(m.held_on.to_string()),
                Val::Text(m.topic.to_string()),
                Val::OptText(m.group.as_ref().map(ToString::to_string)),
                Val::Int(i64::from(m.voided.is_some())),
                Val::Int(present),
                Val::OptInt(q.map(|q| i64::from(q.due))),
                Val::OptInt(q.map(|q| i64::from(q.met()))),
                Val::Int(seen_at),
                Val::OptInt(late_by(m.held_on, day_of(seen_at), catalog)),
            ],
        ));
        for (member, a) in &m.attendance {
            attendance.push(row(
                key,
                [
                    Val::Text(id.to_string()),
                    Val::Text(member.to_string()),
                    Val::Text(a.status.code().to_owned()),
                    Val::OptText(a.makeup_on.map(|d| d.to_string())),
                ],
            ));
        }
    }
    insert_rows(
        tx,
        "p_meetings",
        &[
            "township_id",
            "village_id",
            "year",
            "meeting_id",
            "kind",
            "held_on",
            "topic",
            "grp",
            "voided",
            "present",
            "quorum_due",
            "quorum_met",
            "first_seen_at",
            "late_days",
        ],
        meetings,
        OnConflict::Fail,
    )
    .await?;
    insert_rows(
        tx,
        "p_attendance",
        &["township_id", "village_id", "year", "meeting_id", "member_id", "status", "makeup_on"],
        attendance,
        OnConflict::Fail,
    )
    .await?;

    let points = doc
        .points
        .iter()
        .map(|(id, p)| {
            row(
                key,
                [
                    Val::Text(id.to_string()),
                    Val::Text(p.member_id.to_string()),
                    Val::Text(p.rule.to_string()),
                    Val::Int(i64::from(p.delta.get())),
                    Val::Text(p.on.to_string()),
                    Val::Int(i64::from(p.voided.is_some())),
                ],
            )
        })
        .collect();
    insert_rows(
        tx,
        "p_points",
        &["township_id", "village_id", "year", "entry_id", "member_id", "rule", "delta", "on_date", "voided"],
        points,
        OnConflict::Fail,
    )
    .await?;

    let mut cases = Vec::new();
    let mut steps = Vec::new();
    for (id, c) in &doc.cases {
        // Overdue depends on the day the report is read; the report adds it.
        let gaps = case_gaps(c, catalog, c.opened_on);
        let described: Vec<serde_json::Value> = gaps
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                v["message"] = serde_json::Value::String(g.describe(catalog, &c.item));
                v
            })
            .collect();
        cases.push(row(
            key,
            [
                Val::Text(id.to_string()),
                Val::Text(c.item.to_string()),
                Val::Text(c.title.to_string()),
                Val::Text(c.opened_on.to_string()),
                Val::OptText(c.closed_on.map(|d| d.to_string())),
                Val::Int(i64::from(c.voided.is_some())),
                Val::Int(gaps.len() as i64),
                Val::Text(serde_json::to_string(&described)?),
            ],
        ));
        for (code, s) in &c.steps {
            let seen_at = first_seen(&format!("step:{id}:{code}"));
            steps.push(row(
                key,
                [
                    Val::Text(id.to_string()),
                    Val::Text(code.to_string()),
                    Val::Text(s.done_on.to_string()),
                    Val::Int(seen_at),
                    Val::OptInt(if c.voided.is_some() { None } else { late_by(s.done_on, day_of(seen_at), catalog) }),
                ],
            ));
        }
    }
    insert_rows(
        tx,
        "p_cases",
        &[
            "township_id",
            "village_id",
            "year",
            "case_id",
            "item",
            "title",
            "opened_on",
            "closed_on",
            "voided",
            "gap_count",
            "gaps",
        ],
        cases,
        OnConflict::Fail,
    )
    .await?;
    insert_rows(
        tx,
        "p_case_steps",
        &["township_id", "village_id", "year", "case_id", "step", "done_on", "first_seen_at", "late_days"],
        steps,
        OnConflict::Fail,
    )
    .await?;

    // State depends on the day the report is read; the rows keep the period's dates.
    let rows = compliance(doc, catalog, doc.year.first_day())
        .into_iter()
        .map(|r| {
            row(
                key,
                [
                    Val::Text(r.kind.code().to_owned()),
                    Val::Text(r.group.clone().unwrap_or_default()),
                    Val::Text(period_code(doc.year, r.period)),
                    Val::Text(r.period.first_day(doc.year).to_string()),
                    Val::Text(r.period.last_day(doc.year).to_string()),
                    Val::Int(i64::from(r.required)),
                    Val::Int(i64::from(r.held)),
                    Val::Int(i64::from(r.valid)),
                    Val::Text(serde_json::to_string(&r.quorum_failures).unwrap_or_else(|_| "[]".into())),
                ],
            )
        })
        .collect();
    insert_rows(
        tx,
        "p_compliance",
        &[
            "township_id",
            "village_id",
            "year",
            "kind",
            "grp",
            "period",
            "period_start",
            "period_end",
            "required",
            "held",
            "valid",
            "quorum_failures",
        ],
        rows,
        OnConflict::Fail,
    )
    .await?;
    Ok(())
}
