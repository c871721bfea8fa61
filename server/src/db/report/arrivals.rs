//! The meetings and case steps of a township's year flagged by when they reached the server:
//! late (补录) or early (提前录入), read from the projections' day counts; and the meetings
//! flagged by what their record lacks or how it changed: due members left out of the
//! attendance (未记考勤), a date or attendance changed after the server had it (同步后改动).

use sqlx::Row;
use zhibu_schema::{Catalog, MeetingKind};

use super::rfc3339;
use crate::db::Db;

/// How a record's arrival is flagged: late (补录) or early (提前录入).
#[derive(Debug, Clone, Copy)]
pub(super) enum Arrived {
    Late,
    Early,
}

impl Arrived {
    /// The projections' column of the days.
    fn column(self) -> &'static str {
        match self {
            Arrived::Late => "late_days",
            Arrived::Early => "early_days",
        }
    }
}

/// A meeting or case step flagged by its arrival, and by how many days.
pub(super) struct Flagged {
    pub(super) record: &'static str,
    pub(super) id: String,
    pub(super) what: String,
    pub(super) dated: String,
    pub(super) first_seen_at: String,
    pub(super) days: i64,
}

/// What a meeting's record lacks, or how it changed after the server had it.
pub(super) struct MeetingMarks {
    pub(super) id: String,
    pub(super) what: String,
    pub(super) dated: String,
    /// Due members with no attendance entry.
    pub(super) unmarked: i64,
    /// When the server first received a change of its date or attendance after it had it.
    pub(super) edited_at: Option<String>,
}

/// "会议类型：议题", as the report names a meeting.
fn meeting_what(kind: &str, topic: &str) -> String {
    let label = MeetingKind::from_code(kind).map_or(kind, |k| k.label());
    format!("{label}：{topic}")
}

/// Meetings of one kind (and party group) held the same day: most often one meeting recorded
/// on two phones while offline (疑似重复录入), which counts twice toward its requirement.
pub(super) struct Twins {
    pub(super) what: String,
    pub(super) dated: String,
    pub(super) ids: Vec<String>,
}

impl Db {
    /// The township's live meetings of a year that share their kind, party group and day with
    /// another of their village, by village, grouped.
    pub(super) async fn twin_meetings(&self, township: &str, y: i64) -> anyhow::Result<Vec<(String, Twins)>> {
        let rows = sqlx::query(
            "SELECT p.village_id, p.meeting_id, p.kind, p.held_on, p.topic, COALESCE(p.grp, '') AS grp FROM p_meetings p \
             WHERE p.township_id = $1 AND p.year = $2 AND p.voided = 0 AND EXISTS (\
               SELECT 1 FROM p_meetings q WHERE q.township_id = p.township_id AND q.village_id = p.village_id \
               AND q.year = p.year AND q.voided = 0 AND q.kind = p.kind AND q.held_on = p.held_on \
               AND COALESCE(q.grp, '') = COALESCE(p.grp, '') AND q.meeting_id <> p.meeting_id) \
             ORDER BY p.village_id, p.held_on, p.kind, grp, p.meeting_id",
        )
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Twins, (String, String))> = Vec::new();
        for r in &rows {
            let village: String = r.try_get("village_id")?;
            let kind: String = r.try_get("kind")?;
            let dated: String = r.try_get("held_on")?;
            let group: String = r.try_get("grp")?;
            let id: String = r.try_get("meeting_id")?;
            match out.last_mut() {
                Some((v, twins, (k, g))) if *v == village && twins.dated == dated && *k == kind && *g == group => {
                    twins.ids.push(id);
                }
                _ => {
                    let label = MeetingKind::from_code(&kind).map_or(kind.as_str(), |k| k.label()).to_owned();
                    let what = if group.is_empty() { label } else { format!("{label}（{group}）") };
                    out.push((village, Twins { what, dated, ids: vec![id] }, (kind, group)));
                }
            }
        }
        Ok(out.into_iter().map(|(v, t, _)| (v, t)).collect())
    }

    /// The township's meetings of a year whose attendance leaves due members out or whose date
    /// or attendance changed after the server had them, by village, in the village's order of
    /// dates; voided ones left out.
    pub(super) async fn marked_meetings(&self, township: &str, y: i64) -> anyhow::Result<Vec<(String, MeetingMarks)>> {
        let rows = sqlx::query(
            "SELECT village_id, meeting_id, kind, held_on, topic, unmarked, edited_at FROM p_meetings \
             WHERE township_id = $1 AND year = $2 AND voided = 0 AND (unmarked > 0 OR edited_at IS NOT NULL) \
             ORDER BY village_id, held_on, meeting_id",
        )
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let marks = MeetingMarks {
                    id: r.try_get("meeting_id")?,
                    what: meeting_what(&r.try_get::<String, _>("kind")?, &r.try_get::<String, _>("topic")?),
                    dated: r.try_get("held_on")?,
                    unmarked: r.try_get("unmarked")?,
                    edited_at: r.try_get::<Option<i64>, _>("edited_at")?.map(rfc3339),
                };
                Ok((r.try_get("village_id")?, marks))
            })
            .collect()
    }

    /// The township's meetings and case steps of a year flagged `how`, by village, in the
    /// village's order of dates; voided ones, and steps of voided cases, left out.
    pub(super) async fn flagged(
        &self,
        township: &str,
        y: i64,
        catalog: &Catalog,
        how: Arrived,
    ) -> anyhow::Result<Vec<(String, Flagged)>> {
        let days = how.column();
        let mut out = Vec::new();
        // `days` is one of two column names, never input.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT village_id, meeting_id, kind, held_on, topic, first_seen_at, {days} AS days FROM p_meetings \
             WHERE township_id = $1 AND year = $2 AND voided = 0 AND {days} IS NOT NULL \
             ORDER BY village_id, held_on, meeting_id"
        )))
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let kind: String = r.try_get("kind")?;
            let topic: String = r.try_get("topic")?;
            let flagged = Flagged {
                record: "meeting",
                id: r.try_get("meeting_id")?,
                what: meeting_what(&kind, &topic),
                dated: r.try_get("held_on")?,
                first_seen_at: rfc3339(r.try_get("first_seen_at")?),
                days: r.try_get("days")?,
            };
            out.push((r.try_get("village_id")?, flagged));
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT s.village_id AS village_id, s.case_id AS case_id, s.step AS step, s.done_on AS done_on, \
             s.first_seen_at AS first_seen_at, s.{days} AS days, c.title AS title, c.item AS item \
             FROM p_case_steps s JOIN p_cases c ON c.township_id = s.township_id AND c.village_id = s.village_id \
             AND c.year = s.year AND c.case_id = s.case_id \
             WHERE s.township_id = $1 AND s.year = $2 AND s.{days} IS NOT NULL AND c.voided = 0 \
             ORDER BY s.village_id, s.done_on, s.case_id, s.step"
        )))
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let item: String = r.try_get("item")?;
            let step: String = r.try_get("step")?;
            let step_name = zhibu_schema::Code::parse(&step)
                .ok()
                .and_then(|s| catalog.item(&item).and_then(|i| i.step(&s).map(|(_, d)| d.name.to_string())))
                .unwrap_or_else(|| step.clone());
            let title: String = r.try_get("title")?;
            let case_id: String = r.try_get("case_id")?;
            let flagged = Flagged {
                record: "case_step",
                id: format!("{case_id}/{step}"),
                what: format!("{title}：{step_name}"),
                dated: r.try_get("done_on")?,
                first_seen_at: rfc3339(r.try_get("first_seen_at")?),
                days: r.try_get("days")?,
            };
            out.push((r.try_get("village_id")?, flagged));
        }
        Ok(out)
    }
}
