//! Read models for the web pages beyond the township report: townships and village names, and
//! when the server first received each meeting and case step with how late that was (补录) or
//! how early (提前录入),
//! read from the projections that every accepted push rebuilds.

use std::collections::HashMap;

use sqlx::Row;

use super::Db;
use super::documents::DocKey;

/// When a record first reached the server (Unix ms), and how many days after its date that was
/// when it counts as a late entry, or before its date when it is an early one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub first_seen_at: i64,
    pub late_days: Option<i64>,
    pub early_days: Option<i64>,
}

/// Arrivals of a document's meetings (by id) and case steps (by case id and step code).
#[derive(Debug, Clone, Default)]
pub struct Arrivals {
    pub meetings: HashMap<String, Arrival>,
    /// When the server first received a change of a meeting's date or attendance after it had
    /// the meeting (同步后改动), by meeting id.
    pub edited: HashMap<String, i64>,
    pub steps: HashMap<(String, String), Arrival>,
    /// When the server first received a change of a member that rewrites past figures (a
    /// committee seat, a group, a status, a back-dated day) after it had the member, by member
    /// id (名册同步后改动).
    pub members: HashMap<String, i64>,
}

fn arrival(r: &sqlx::any::AnyRow) -> Result<Arrival, sqlx::Error> {
    Ok(Arrival {
        first_seen_at: r.try_get("first_seen_at")?,
        late_days: r.try_get("late_days")?,
        early_days: r.try_get("early_days")?,
    })
}

impl Db {
    /// Every township: (id, name), by id.
    pub async fn townships(&self) -> anyhow::Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, name FROM townships ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).collect()
    }

    /// The name of a village, if it exists.
    pub async fn village_name(&self, village: &str) -> anyhow::Result<Option<String>> {
        let row =
            sqlx::query("SELECT name FROM villages WHERE id = $1").bind(village).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }

    /// When each meeting and case step of a document first reached the server.
    pub async fn arrivals(&self, key: &DocKey) -> anyhow::Result<Arrivals> {
        let (t, v, y) = (&key.township, key.village.as_str(), i64::from(key.year));
        let mut out = Arrivals::default();
        let rows = sqlx::query(
            "SELECT meeting_id, first_seen_at, late_days, early_days, edited_at FROM p_meetings \
             WHERE township_id = $1 AND village_id = $2 AND year = $3",
        )
        .bind(t)
        .bind(v)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let id: String = r.try_get("meeting_id")?;
            if let Some(at) = r.try_get::<Option<i64>, _>("edited_at")? {
                out.edited.insert(id.clone(), at);
            }
            out.meetings.insert(id, arrival(r)?);
        }
        let rows = sqlx::query(
            "SELECT case_id, step, first_seen_at, late_days, early_days FROM p_case_steps \
             WHERE township_id = $1 AND village_id = $2 AND year = $3",
        )
        .bind(t)
        .bind(v)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            out.steps.insert((r.try_get("case_id")?, r.try_get("step")?), arrival(r)?);
        }
        for edited in self.members_edited(t, Some(v), y).await? {
            out.members.insert(edited.member, edited.first_edited_at);
        }
        Ok(out)
    }

    /// The members whose change rewrote past figures after the server had them, with when it
    /// first received such a change and their name as the projections hold it, for a township's
    /// year or one village's, by village.
    pub async fn members_edited(
        &self,
        township: &str,
        village: Option<&str>,
        year: i64,
    ) -> anyhow::Result<Vec<MemberEdited>> {
        let prefix = super::projections::MEMBER_EDITED;
        let rows = sqlx::query(
            "SELECT r.village_id, r.record_key, r.first_seen_at, m.name FROM record_seen r \
             LEFT JOIN p_members m ON m.township_id = r.township_id AND m.village_id = r.village_id \
               AND m.year = r.year AND r.record_key = $5 || m.member_id \
             WHERE r.township_id = $1 AND r.year = $2 AND ($3 = '' OR r.village_id = $3) AND r.record_key LIKE $4 \
             ORDER BY r.village_id, r.first_seen_at, r.record_key",
        )
        .bind(township)
        .bind(year)
        .bind(village.unwrap_or(""))
        .bind(format!("{prefix}%"))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("record_key")?;
                Ok(MemberEdited {
                    village: r.try_get("village_id")?,
                    member: key.strip_prefix(prefix).unwrap_or(&key).to_owned(),
                    first_edited_at: r.try_get("first_seen_at")?,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }
}

/// A member whose change rewrote past figures after the server had them (名册同步后改动).
#[derive(Debug)]
pub struct MemberEdited {
    pub village: String,
    pub member: String,
    /// When the server first received such a change (Unix milliseconds).
    pub first_edited_at: i64,
    /// As the projections hold it; None for a member they no longer have.
    pub name: Option<String>,
}
