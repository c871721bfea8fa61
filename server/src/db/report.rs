//! The township report, read from the projections with SQL: per village, meetings held
//! against required per kind and period with quorum failures, members per grade, cases with
//! gaps, late entries (补录) and early ones (提前录入), meetings that leave due members out of
//! their attendance (未记考勤) or changed after the server had them (同步后改动), and the last
//! sync of each device.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use zhibu_schema::{Catalog, ComplianceRow, Date, Grade, MeetingKind, Period, PeriodState, RecordId, Year, summarize};

use super::{Backend, Db};

mod arrivals;
use arrivals::{Arrived, Flagged, MeetingMarks, Twins};

#[derive(Debug, Clone, Serialize)]
pub struct TownshipReport {
    pub township_id: String,
    pub year: i64,
    /// The day the states were computed for.
    pub as_of: String,
    /// The period of `summary`: `2026`, `2026-q1` or `2026-03`.
    pub period: String,
    pub villages: Vec<VillageReport>,
    /// The catalog's days after which an entry is late (补录), for the pages that explain it.
    #[serde(skip)]
    pub late_entry_days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct VillageReport {
    pub village_id: String,
    pub name: String,
    /// Whether the server holds any record of the village for the year: without (no roster
    /// imported, no phone synced), `summary` and `compliance` are empty, which says nothing
    /// was required, not that nothing was done.
    pub has_records: bool,
    /// Per kind (and party group), the chosen period summed up.
    pub summary: Vec<KindSummary>,
    /// Per kind, group and requirement period, every period that has started.
    pub compliance: Vec<ComplianceItem>,
    /// Kinds behind in the chosen period.
    pub behind: usize,
    /// Members on the year's roster, less those gone by the report's day (`members_left`).
    pub members: i64,
    /// Members of the year's roster who had left the branch by the report's day (转出, 去世).
    pub members_left: i64,
    /// Members marked on the branch committee (支委).
    pub committee_members: i64,
    pub grades: GradeCounts,
    pub cases: Vec<CaseItem>,
    /// How many of them were open at some time in the chosen period (opened by its end, not
    /// closed before its start), as the dashboard counts them.
    pub cases_in_period: usize,
    /// Every late entry of the year.
    pub late_entries: Vec<LateEntry>,
    /// How many of them are dated in the chosen period, as `summary` counts.
    pub late_in_period: usize,
    /// Every early entry of the year (提前录入): dated after the day the server first saw it.
    pub early_entries: Vec<EarlyEntry>,
    /// How many of them are dated in the chosen period.
    pub early_in_period: usize,
    /// Every meeting of the year whose attendance leaves out members who were due (未记考勤):
    /// they are neither present, on leave nor absent, so no absence costs them points.
    pub unmarked_attendance: Vec<UnmarkedMeeting>,
    /// How many of them are dated in the chosen period.
    pub unmarked_in_period: usize,
    /// Every meeting of the year whose date or attendance changed after the server first had
    /// it (同步后改动; DOMAIN.md: shown to the township). Its history page shows what changed.
    pub edited_after_sync: Vec<EditedMeeting>,
    /// How many of them are dated in the chosen period.
    pub edited_in_period: usize,
    /// Members whose change rewrote figures already shown, after the server had them: a
    /// committee seat, a party group or a status changed, or a day of joining, arriving,
    /// leaving or becoming full set back more than the late-entry days (名册同步后改动).
    pub roster_edits: Vec<RosterEdit>,
    /// Live meetings of one kind (and party group) held the same day (疑似重复录入): most often
    /// one meeting recorded on two phones while offline, which counts twice toward its
    /// requirement and gives its members two attendance entries. Every one of the year.
    pub possible_duplicates: Vec<PossibleDuplicate>,
    /// How many of them are dated in the chosen period.
    pub duplicates_in_period: usize,
    /// The rules the village's records break as stored (记录矛盾): made where two phones'
    /// offline edits met, which the server stores rather than refuse the phone that never saw
    /// the other edit, or a rule the catalog tightened since. The village's cadres correct them.
    pub record_problems: Vec<RecordProblem>,
    pub last_sync_at: Option<String>,
    pub devices: Vec<DeviceSync>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplianceItem {
    pub kind: MeetingKind,
    pub kind_name: &'static str,
    pub group: Option<String>,
    pub period: String,
    pub required: i64,
    pub held: i64,
    pub valid: i64,
    pub state: PeriodState,
    pub quorum_failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindSummary {
    pub kind: MeetingKind,
    pub kind_name: &'static str,
    pub group: Option<String>,
    pub required: i64,
    pub held: i64,
    pub valid: i64,
    /// The valid meetings that count toward `required`: at most each period's requirement.
    pub counted: i64,
    pub quorum_failures: Vec<String>,
    pub behind: bool,
    pub pending: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GradeCounts {
    pub excellent: i64,
    pub good: i64,
    pub qualified: i64,
    pub unqualified: i64,
    /// Probationary members: a score, no grade.
    pub ungraded: i64,
    /// Members who leave the branch within the year (or left before it), gone already or not:
    /// a score, no grade. The six counts add up to the year's whole roster, `members` plus
    /// `members_left`.
    pub left: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseItem {
    pub case_id: String,
    pub item: String,
    pub item_name: String,
    pub title: String,
    pub opened_on: String,
    pub closed_on: Option<String>,
    pub gaps: Vec<serde_json::Value>,
    /// The year of the record the case is kept in: the report's year, or an earlier one for a
    /// case opened then and still open (its steps go on in that year's record).
    pub year: i64,
}

/// Whether the day written `dated` falls in `period` of `year` (a case's step may be dated in
/// the next year, in none of this year's periods).
pub fn dated_in(year: Year, period: Period, dated: &str) -> bool {
    Date::parse(dated).is_ok_and(|d| year.contains(d) && period.contains(d))
}

impl CaseItem {
    /// Open at some time in `period` of `year`: opened by its last day, not closed before its
    /// first.
    pub fn open_during(&self, year: Year, period: Period) -> bool {
        let (first, last) = (period.first_day(year), period.last_day(year));
        let opened = Date::parse(&self.opened_on).is_ok_and(|d| d <= last);
        let closed_before = self.closed_on.as_deref().and_then(|c| Date::parse(c).ok()).is_some_and(|d| d < first);
        opened && !closed_before
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LateEntry {
    /// `meeting` or `case_step`.
    pub record: &'static str,
    pub id: String,
    pub what: String,
    pub dated: String,
    pub first_seen_at: String,
    pub days_late: i64,
}

/// A meeting or case step dated after the day the server first received it (提前录入).
#[derive(Debug, Clone, Serialize)]
pub struct EarlyEntry {
    /// `meeting` or `case_step`.
    pub record: &'static str,
    pub id: String,
    pub what: String,
    pub dated: String,
    pub first_seen_at: String,
    pub days_early: i64,
}

/// A meeting whose attendance leaves out members who were due.
#[derive(Debug, Clone, Serialize)]
pub struct UnmarkedMeeting {
    pub id: String,
    pub what: String,
    pub dated: String,
    /// How many due members have no attendance entry.
    pub unmarked: i64,
}

/// A member changed after the server had them in a way that rewrites past figures.
#[derive(Debug, Clone, Serialize)]
pub struct RosterEdit {
    pub member_id: String,
    pub name: String,
    /// When the server first received such a change (RFC 3339).
    pub first_edited_at: String,
}

/// Meetings of one kind (and party group) held the same day.
#[derive(Debug, Clone, Serialize)]
pub struct PossibleDuplicate {
    /// The kind (and party group), as people read it.
    pub what: String,
    pub dated: String,
    /// The meetings' record ids.
    pub ids: Vec<String>,
}

/// A rule a record breaks as stored.
#[derive(Debug, Clone, Serialize)]
pub struct RecordProblem {
    /// `members`, `meetings`, `points`, `cases` or `document`.
    pub collection: String,
    pub record_id: String,
    /// The field, dotted, inside the record.
    pub field: String,
    /// The rule's code, as a refused push names it.
    pub rule: String,
    /// What is wrong, in Chinese.
    pub message: String,
    /// The record, the field and what is wrong, in one Chinese sentence for people
    /// (会议 3f2a9c1d（v1-m04 的补课日期）：…).
    pub described: String,
}

/// A meeting whose date or attendance changed after the server first had it.
#[derive(Debug, Clone, Serialize)]
pub struct EditedMeeting {
    pub id: String,
    pub what: String,
    pub dated: String,
    /// When the server first received such a change (RFC 3339).
    pub first_edited_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceSync {
    pub peer_id: String,
    pub account_id: String,
    pub last_sync_at: String,
}

/// RFC 3339 in UTC.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Which cases [`Db::case_items`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cases {
    /// Those the township is to look at: the year's cases with a gap or open past the deadline,
    /// and such cases of earlier years still open.
    Flagged,
    /// Every case of an earlier year still open, gaps or not.
    EarlierOpen,
}

impl Db {
    /// Cases of a township (or of one of its villages) for the report of `year`, by village,
    /// those still open counted open to `open_as_of`. A case opened in an earlier year and not
    /// closed is listed too: its steps go on in its own year's record, and a report of the year
    /// of its opening only would lose it from sight at New Year.
    pub async fn case_items(
        &self,
        township: &str,
        village: Option<&str>,
        year: Year,
        open_as_of: Date,
        catalog: &Catalog,
        which: Cases,
    ) -> anyhow::Result<Vec<(String, CaseItem)>> {
        let overdue_before = open_as_of.add_days(-i64::from(catalog.case_deadline_days)).unwrap_or(open_as_of);
        let mut sql = String::from(
            "SELECT village_id, year, case_id, item, title, opened_on, closed_on, gaps FROM p_cases \
             WHERE township_id = $1 AND voided = 0",
        );
        sql.push_str(match which {
            Cases::Flagged => {
                " AND (year = $2 OR (year < $2 AND closed_on IS NULL)) \
                 AND (gap_count > 0 OR (closed_on IS NULL AND opened_on < $3))"
            }
            Cases::EarlierOpen => " AND year < $2 AND closed_on IS NULL",
        });
        let next = if which == Cases::Flagged { 4 } else { 3 };
        if village.is_some() {
            sql.push_str(&format!(" AND village_id = ${next}"));
        }
        sql.push_str(" ORDER BY village_id, opened_on, case_id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(township).bind(i64::from(year));
        if which == Cases::Flagged {
            query = query.bind(overdue_before.to_string());
        }
        if let Some(village) = village {
            query = query.bind(village);
        }
        let mut out = Vec::new();
        for r in &query.fetch_all(&self.pool).await? {
            let item: String = r.try_get("item")?;
            let opened_on: String = r.try_get("opened_on")?;
            let closed_on: Option<String> = r.try_get("closed_on")?;
            let mut gaps: Vec<serde_json::Value> = serde_json::from_str(&r.try_get::<String, _>("gaps")?)?;
            let opened = Date::parse(&opened_on)?;
            if closed_on.is_none() && opened < overdue_before {
                let g = zhibu_schema::CaseGap::Overdue {
                    days_open: opened.days_until(open_as_of),
                    deadline: catalog.case_deadline_days,
                };
                let code = zhibu_schema::Code::parse(&item)?;
                let mut value = serde_json::to_value(&g)?;
                value["message"] = serde_json::Value::String(g.describe(catalog, &code));
                gaps.push(value);
            }
            let case = CaseItem {
                case_id: r.try_get("case_id")?,
                item_name: catalog.item(&item).map_or_else(|| item.clone(), |i| i.name.to_string()),
                item,
                title: r.try_get("title")?,
                opened_on,
                closed_on,
                gaps,
                year: r.try_get("year")?,
            };
            out.push((r.try_get("village_id")?, case));
        }
        Ok(out)
    }

    /// Whether the member `member` is on the roster of the village-year, as its figures hold it
    /// (a member's page links only to years it has).
    pub async fn member_on_roster(
        &self,
        township: &str,
        village: &str,
        year: Year,
        member: &str,
    ) -> anyhow::Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM p_members WHERE township_id = $1 AND village_id = $2 AND year = $3 AND member_id = $4",
        )
        .bind(township)
        .bind(village)
        .bind(i64::from(year))
        .bind(member)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The report of a township for a year and a period, with states as of `as_of`, and the
    /// cases still open counted open to `open_as_of` (today, also for a past year).
    pub async fn township_report(
        &self,
        township: &str,
        year: Year,
        period: Period,
        as_of: Date,
        open_as_of: Date,
        catalog: &Catalog,
    ) -> anyhow::Result<TownshipReport> {
        let y = i64::from(year);
        let mut villages: BTreeMap<String, VillageReport> = BTreeMap::new();
        for (id, name) in self.villages_of(township).await? {
            villages.insert(
                id.clone(),
                VillageReport {
                    village_id: id,
                    name,
                    has_records: false,
                    summary: Vec::new(),
                    compliance: Vec::new(),
                    behind: 0,
                    members: 0,
                    members_left: 0,
                    committee_members: 0,
                    grades: GradeCounts::default(),
                    cases: Vec::new(),
                    late_entries: Vec::new(),
                    late_in_period: 0,
                    cases_in_period: 0,
                    early_entries: Vec::new(),
                    early_in_period: 0,
                    unmarked_attendance: Vec::new(),
                    unmarked_in_period: 0,
                    edited_after_sync: Vec::new(),
                    edited_in_period: 0,
                    roster_edits: Vec::new(),
                    possible_duplicates: Vec::new(),
                    duplicates_in_period: 0,
                    record_problems: Vec::new(),
                    last_sync_at: None,
                    devices: Vec::new(),
                },
            );
        }

        let rows = sqlx::query("SELECT village_id FROM documents WHERE township_id = $1 AND year = $2")
            .bind(township)
            .bind(y)
            .fetch_all(&self.pool)
            .await?;
        for r in &rows {
            if let Some(v) = villages.get_mut(&r.try_get::<String, _>("village_id")?) {
                v.has_records = true;
            }
        }

        // One row per village carrying its requirement periods as a JSON array: a township has
        // thousands of them, and the database driver costs more per row than per byte.
        let aggregate = match self.backend {
            Backend::Sqlite => {
                "json_group_array(json_array(kind, grp, period, period_start, period_end, required, held, valid, \
                 quorum_failures))"
            }
            Backend::Postgres => {
                "json_agg(json_build_array(kind, grp, period, period_start, period_end, required, held, valid, \
                 quorum_failures))::text"
            }
        };
        let sql = format!(
            "SELECT village_id, {aggregate} AS periods FROM p_compliance WHERE township_id = $1 AND year = $2 \
             GROUP BY village_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(township).bind(y).fetch_all(&self.pool).await?;
        // The same figures the phones compute, from the projected rows: one
        // `ComplianceRow` per requirement period, summed by zhibu-schema's `summarize`.
        let mut per_village: BTreeMap<String, Vec<ComplianceRow>> = BTreeMap::new();
        for r in &rows {
            type Stored = (String, String, String, String, String, u32, u32, u32, String);
            let mut periods: Vec<Stored> = serde_json::from_str(&r.try_get::<String, _>("periods")?)?;
            periods.sort_by_cached_key(|p| (p.0.clone(), zhibu_schema::document::group_order(&p.1), p.3.clone()));
            let out = per_village.entry(r.try_get("village_id")?).or_default();
            for (kind, grp, period, start, end, required, held, valid, quorum_failures) in periods {
                let Some(kind) = MeetingKind::from_code(&kind) else { continue };
                let Some((_, req_period)) = Period::parse(&period) else { continue };
                let (start, end) = (Date::parse(&start)?, Date::parse(&end)?);
                out.push(ComplianceRow {
                    kind,
                    group: (!grp.is_empty()).then_some(grp),
                    period: req_period,
                    required,
                    held,
                    valid,
                    quorum_failures: serde_json::from_str(&quorum_failures)?,
                    state: PeriodState::on(required, valid, start, end, as_of),
                });
            }
        }
        // Meetings dated after the report's day (entered ahead) are planned, not held: the
        // stored rows count every meeting of the year, so those are left out here.
        let ahead = sqlx::query(
            "SELECT village_id, meeting_id, kind, grp, held_on FROM p_meetings \
             WHERE township_id = $1 AND year = $2 AND voided = 0 AND held_on > $3",
        )
        .bind(township)
        .bind(y)
        .bind(as_of.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &ahead {
            let Some(rows) = per_village.get_mut(&r.try_get::<String, _>("village_id")?) else { continue };
            let (Some(kind), Ok(id), Ok(held_on)) = (
                MeetingKind::from_code(&r.try_get::<String, _>("kind")?),
                RecordId::parse(&r.try_get::<String, _>("meeting_id")?),
                Date::parse(&r.try_get::<String, _>("held_on")?),
            ) else {
                continue;
            };
            let group: Option<String> = r.try_get("grp")?;
            for row in rows.iter_mut() {
                row.leave_out_ahead(year, &id, (kind, group.as_deref(), held_on), as_of);
            }
        }
        for (village, rows) in per_village {
            let Some(v) = villages.get_mut(&village) else { continue };
            v.compliance = rows
                .iter()
                .filter(|r| r.state != PeriodState::Future)
                .map(|r| ComplianceItem {
                    kind: r.kind,
                    kind_name: r.kind.label(),
                    group: r.group.clone(),
                    period: super::projections::period_code(year, r.period),
                    required: i64::from(r.required),
                    held: i64::from(r.held),
                    valid: i64::from(r.valid),
                    state: r.state,
                    quorum_failures: r.quorum_failures.iter().map(ToString::to_string).collect(),
                })
                .collect();
            v.summary = summarize(&rows, period)
                .into_iter()
                .map(|s| KindSummary {
                    kind: s.kind,
                    kind_name: s.kind.label(),
                    group: s.group,
                    required: i64::from(s.required),
                    held: i64::from(s.held),
                    valid: i64::from(s.valid),
                    counted: i64::from(s.counted),
                    quorum_failures: s.quorum_failures.iter().map(ToString::to_string).collect(),
                    behind: s.behind,
                    pending: s.pending,
                })
                .collect();
        }
        for v in villages.values_mut() {
            v.behind = v.summary.iter().filter(|s| s.behind).count();
        }

        // Gone by the report's day (no later than the year's last: a past year's report is as of
        // the day after it, when a member leaving on New Year's Day was still there all year),
        // and leaving within the year at all (not graded, whatever the day of the report).
        let rows = sqlx::query(
            "SELECT village_id, grade, \
             CAST(CASE WHEN left_on IS NOT NULL AND left_on <= $3 THEN 1 ELSE 0 END AS BIGINT) AS gone, \
             CAST(CASE WHEN left_on IS NOT NULL AND left_on <= $4 THEN 1 ELSE 0 END AS BIGINT) AS leaving, \
             COUNT(*) AS n, CAST(SUM(committee) AS BIGINT) AS c FROM p_members \
             WHERE township_id = $1 AND year = $2 GROUP BY village_id, grade, gone, leaving",
        )
        .bind(township)
        .bind(y)
        .bind(as_of.min(year.last_day()).to_string())
        .bind(year.last_day().to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let village: String = r.try_get("village_id")?;
            let Some(v) = villages.get_mut(&village) else { continue };
            let grade: Option<String> = r.try_get("grade")?;
            let n: i64 = r.try_get("n")?;
            if r.try_get::<i64, _>("gone")? == 1 {
                v.members_left += n;
            } else {
                v.members += n;
                v.committee_members += r.try_get::<i64, _>("c")?;
            }
            let g = &mut v.grades;
            match grade.as_deref() {
                _ if r.try_get::<i64, _>("leaving")? == 1 => g.left += n,
                Some(c) if c == Grade::Excellent.code() => g.excellent += n,
                Some(c) if c == Grade::Good.code() => g.good += n,
                Some(c) if c == Grade::Qualified.code() => g.qualified += n,
                Some(_) => g.unqualified += n,
                None => g.ungraded += n,
            }
        }

        for (village, case) in self.case_items(township, None, year, open_as_of, catalog, Cases::Flagged).await? {
            if let Some(v) = villages.get_mut(&village) {
                v.cases.push(case);
            }
        }

        for (village, f) in self.flagged(township, y, catalog, Arrived::Late).await? {
            let Some(v) = villages.get_mut(&village) else { continue };
            let Flagged { record, id, what, dated, first_seen_at, days } = f;
            v.late_entries.push(LateEntry { record, id, what, dated, first_seen_at, days_late: days });
        }
        for (village, f) in self.flagged(township, y, catalog, Arrived::Early).await? {
            let Some(v) = villages.get_mut(&village) else { continue };
            let Flagged { record, id, what, dated, first_seen_at, days } = f;
            v.early_entries.push(EarlyEntry { record, id, what, dated, first_seen_at, days_early: days });
        }

        for (village, m) in self.marked_meetings(township, y).await? {
            let Some(v) = villages.get_mut(&village) else { continue };
            let MeetingMarks { id, what, dated, unmarked, edited_at } = m;
            if let Some(first_edited_at) = edited_at {
                let edited =
                    EditedMeeting { id: id.clone(), what: what.clone(), dated: dated.clone(), first_edited_at };
                v.edited_after_sync.push(edited);
            }
            if unmarked > 0 {
                v.unmarked_attendance.push(UnmarkedMeeting { id, what, dated, unmarked });
            }
        }

        for (village, t) in self.twin_meetings(township, y).await? {
            let Some(v) = villages.get_mut(&village) else { continue };
            let Twins { what, dated, ids } = t;
            v.possible_duplicates.push(PossibleDuplicate { what, dated, ids });
        }

        // A case's step may be dated in the next year (a case opened in December); it belongs
        // to none of this year's periods.
        let in_period = |dated: &str| dated_in(year, period, dated);
        for v in villages.values_mut() {
            v.late_in_period = v.late_entries.iter().filter(|l| in_period(&l.dated)).count();
            v.early_in_period = v.early_entries.iter().filter(|l| in_period(&l.dated)).count();
            v.unmarked_in_period = v.unmarked_attendance.iter().filter(|l| in_period(&l.dated)).count();
            v.edited_in_period = v.edited_after_sync.iter().filter(|l| in_period(&l.dated)).count();
            v.duplicates_in_period = v.possible_duplicates.iter().filter(|d| in_period(&d.dated)).count();
            v.cases_in_period = v.cases.iter().filter(|c| c.open_during(year, period)).count();
        }
        for edited in self.members_edited(township, None, y).await? {
            let Some(v) = villages.get_mut(&edited.village) else { continue };
            let name = edited.name.unwrap_or_else(|| edited.member.clone());
            let (member_id, at) = (edited.member, edited.first_edited_at);
            v.roster_edits.push(RosterEdit { member_id, name, first_edited_at: rfc3339(at) });
        }

        let rows = sqlx::query(
            "SELECT village_id, collection, record_id, field, rule, message, described FROM p_problems \
             WHERE township_id = $1 AND year = $2 ORDER BY village_id, collection, record_id, field, rule",
        )
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let Some(v) = villages.get_mut(&r.try_get::<String, _>("village_id")?) else { continue };
            v.record_problems.push(RecordProblem {
                collection: r.try_get("collection")?,
                record_id: r.try_get("record_id")?,
                field: r.try_get("field")?,
                rule: r.try_get("rule")?,
                message: r.try_get("message")?,
                described: r.try_get("described")?,
            });
        }

        let rows = sqlx::query(
            "SELECT village_id, peer_id, account_id, last_sync_at FROM devices WHERE township_id = $1 AND year = $2 \
             ORDER BY village_id, last_sync_at DESC, peer_id",
        )
        .bind(township)
        .bind(y)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let village: String = r.try_get("village_id")?;
            let Some(v) = villages.get_mut(&village) else { continue };
            let at = rfc3339(r.try_get("last_sync_at")?);
            if v.last_sync_at.is_none() {
                v.last_sync_at = Some(at.clone());
            }
            v.devices.push(DeviceSync {
                peer_id: r.try_get("peer_id")?,
                account_id: r.try_get("account_id")?,
                last_sync_at: at,
            });
        }

        Ok(TownshipReport {
            township_id: township.to_owned(),
            year: y,
            as_of: as_of.to_string(),
            period: super::projections::period_code(year, period),
            villages: villages.into_values().collect(),
            late_entry_days: catalog.late_entry_days,
        })
    }
}
