//! Projections: relational rows derived from a village-year document, kept in step with it in
//! the same transaction as every accepted push, so the township report is SQL over small
//! tables, never a scan of documents. Figures come from zhibu-schema, the same functions the
//! phones run.
//!
//! Invariant: after a push commits, every projection table holds exactly the rows made from
//! the records of the stored document. When the records the previous rows were made from are
//! known (the version this push was computed against), only the rows that differ are
//! rewritten, so a push that marks one attendance rewrites a handful of rows, not thousands;
//! otherwise the document's rows are rebuilt whole. The rows are worked out before the push's
//! transaction ([`plan`]); the transaction only writes them ([`apply`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sqlx::{Any, Row, Transaction};
use zhibu_schema::mapping::Touched;
use zhibu_schema::{
    AttendanceStatus, Catalog, Collection, Date, Meeting, MemberId, MemberStatus, Period, RecordId, VillageYear,
    Violation, all_totals, case_gaps, compliance, early_by, late_by, quorum, unmarked_members, validate,
};

use super::Backend;
use super::documents::DocKey;
use super::sink::{Arg, Sink};

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// A projection table: the columns after (township_id, village_id, year), the first
/// `key_len` of which complete its primary key.
#[derive(Debug)]
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    key_len: usize,
}

const TABLES: [Table; 7] = [
    Table {
        name: "p_members",
        columns: &["member_id", "name", "grp", "status", "committee", "score", "grade", "left_on"],
        key_len: 1,
    },
    Table {
        name: "p_meetings",
        columns: &[
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
            "early_days",
            "attendance",
            "unmarked",
            "edited_at",
        ],
        key_len: 1,
    },
    Table { name: "p_points", columns: &["entry_id", "member_id", "rule", "delta", "on_date", "voided"], key_len: 1 },
    Table {
        name: "p_cases",
        columns: &["case_id", "item", "title", "opened_on", "closed_on", "voided", "gap_count", "gaps"],
        key_len: 1,
    },
    Table {
        name: "p_case_steps",
        columns: &["case_id", "step", "done_on", "first_seen_at", "late_days", "early_days"],
        key_len: 2,
    },
    Table {
        name: "p_compliance",
        columns: &[
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
        key_len: 3,
    },
    Table {
        name: "p_problems",
        columns: &["collection", "record_id", "field", "rule", "message", "described"],
        key_len: 4,
    },
];

/// Rows of one table, by primary key.
type Rows = BTreeMap<Vec<Val>, Vec<Val>>;

fn put(rows: &mut Rows, key_len: usize, row: Vec<Val>) {
    let mut row = row;
    let rest = row.split_off(key_len);
    rows.insert(row, rest);
}

fn text(s: impl ToString) -> Val {
    Val::Text(s.to_string())
}
fn opt_text<T: ToString>(s: Option<T>) -> Val {
    Val::OptText(s.map(|s| s.to_string()))
}

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

/// Which records' rows to make: all, or only those of some meetings, point entries and cases
/// (the rows of members and compliance, which every record can change, are always made).
#[derive(Debug, Clone, Copy)]
enum Only<'a> {
    All,
    Records(&'a BTreeSet<(Collection, String)>),
}

impl Only<'_> {
    fn has(&self, c: Collection, id: &RecordId) -> bool {
        match self {
            Only::All => true,
            Only::Records(set) => set.contains(&(c, id.to_string())),
        }
    }

    /// Whether any record of `c` is among them.
    fn any(&self, c: Collection) -> bool {
        match self {
            Only::All => true,
            Only::Records(set) => set.iter().any(|(of, _)| *of == c),
        }
    }
}

/// The rows of members and of compliance, which any record can change: made whole at every
/// push, and kept with the cached document so that the next push compares against them instead
/// of making them again from the records before it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedRows {
    members: Rows,
    compliance: Rows,
    /// The rules the records break (记录矛盾), which any record can too.
    problems: Rows,
}

/// The members', compliance and problems rows of a document; `problems` are the rules of its
/// records ([`validate`]) it breaks when known (admission found them), otherwise they are
/// looked for here: the same either way, so rows made one way are replaced by rows made the
/// other.
fn project_shared(doc: &VillageYear, catalog: &Catalog, problems: Option<&[Violation]>) -> SharedRows {
    let (mut members, mut comp, mut broken) = (Rows::new(), Rows::new(), Rows::new());
    let found;
    let problems = match problems {
        Some(known) => known,
        None => {
            found = validate(doc, catalog);
            &found
        }
    };
    for v in problems {
        let collection = match v.collection {
            Collection::Document => "document",
            c => c.key(),
        };
        let row =
            vec![text(collection), text(&v.record), text(&v.field), text(v.rule.code()), text(&v.message), text(v)];
        put(&mut broken, 4, row);
    }
    for ((id, m), s) in doc.members.iter().zip(all_totals(doc, catalog)) {
        let row = vec![
            text(id),
            text(&m.name),
            opt_text(m.group.as_ref()),
            text(m.status.code()),
            Val::Int(i64::from(m.committee)),
            Val::Int(i64::from(s.total)),
            opt_text(s.grade.map(|g| g.code())),
            opt_text(m.left_on),
        ];
        put(&mut members, 1, row);
    }
    // State depends on the day the report is read; the rows keep the period's dates.
    // Every meeting of the year (none after its last day); the report leaves out those still
    // ahead of its day and states each period as of then.
    for r in compliance(doc, catalog, doc.year.last_day()) {
        let row = vec![
            text(r.kind.code()),
            Val::Text(r.group.clone().unwrap_or_default()),
            Val::Text(period_code(doc.year, r.period)),
            text(r.period.first_day(doc.year)),
            text(r.period.last_day(doc.year)),
            Val::Int(i64::from(r.required)),
            Val::Int(i64::from(r.held)),
            Val::Int(i64::from(r.valid)),
            Val::Text(serde_json::to_string(&r.quorum_failures).unwrap_or_else(|_| "[]".into())),
        ];
        put(&mut comp, 3, row);
    }
    SharedRows { members, compliance: comp, problems: broken }
}

/// One member's attendance in a meeting's `attendance` column: a JSON object by member id,
/// read back as rows by the `p_attendance` view (migration 0005 on SQLite, 0004 on PostgreSQL).
/// One column instead of a row per member: a month's meetings were 160 rows of a push's 280,
/// each a B-tree insert of its own (docs/PERFORMANCE.md).
#[derive(serde::Serialize)]
struct AttendanceCell<'a> {
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    makeup_on: Option<String>,
}

/// A meeting's `attendance` column.
fn attendance_json(m: &zhibu_schema::Meeting) -> String {
    let cells: BTreeMap<&str, AttendanceCell<'_>> = m
        .attendance
        .iter()
        .map(|(member, a)| {
            (member.as_str(), AttendanceCell { status: a.status.code(), makeup_on: a.makeup_on.map(|d| d.to_string()) })
        })
        .collect();
    serde_json::to_string(&cells).unwrap_or_else(|_| "{}".into())
}

/// The rows of the meetings, point entries and cases `only` names, in the order of [`TABLES`]
/// from `p_meetings` to `p_case_steps`. `seen` gives when the server first saw a meeting
/// (`meeting:ID`) or case step (`step:CASE:STEP`), and a meeting's date or attendance changed
/// after it had it (`edited:meeting:ID`); what it has not seen yet it sees at `received_at`.
fn project_records(
    doc: &VillageYear,
    catalog: &Catalog,
    seen: &HashMap<String, i64>,
    received_at: i64,
    only: Only<'_>,
) -> [Rows; 4] {
    let first_seen = |k: &str| seen.get(k).copied().unwrap_or(received_at);
    let [mut meetings, mut points, mut cases, mut steps] = Default::default();
    for (id, m) in doc.meetings.iter().filter(|(id, _)| only.has(Collection::Meetings, id)) {
        let q = catalog.requirement(m.kind).and_then(|r| quorum(doc, m, r.quorum));
        let present = m.attendance.values().filter(|a| a.status == AttendanceStatus::Present).count() as i64;
        let seen_at = first_seen(&format!("meeting:{id}"));
        let row = vec![
            text(id),
            text(m.kind.code()),
            text(m.held_on),
            text(&m.topic),
            opt_text(m.group.as_ref()),
            Val::Int(i64::from(m.voided.is_some())),
            Val::Int(present),
            Val::OptInt(q.map(|q| i64::from(q.due))),
            Val::OptInt(q.map(|q| i64::from(q.met()))),
            Val::Int(seen_at),
            Val::OptInt(late_by(m.held_on, day_of(seen_at), catalog)),
            Val::OptInt(early_by(m.held_on, day_of(seen_at))),
            Val::Text(attendance_json(m)),
            Val::Int(unmarked_members(doc, m, catalog).len() as i64),
            Val::OptInt(seen.get(&edited_key(id)).copied()),
        ];
        put(&mut meetings, 1, row);
    }

    for (id, p) in doc.points.iter().filter(|(id, _)| only.has(Collection::Points, id)) {
        let row = vec![
            text(id),
            text(&p.member_id),
            text(&p.rule),
            Val::Int(i64::from(p.delta.get())),
            text(p.on),
            Val::Int(i64::from(p.voided.is_some())),
        ];
        put(&mut points, 1, row);
    }

    // A case's gaps look at the meetings its steps were taken at: a meeting touched (voided,
    // its attendance changed, moved to the step's day) can change any case's.
    let meetings_touched = only.any(Collection::Meetings);
    for (id, c) in doc.cases.iter().filter(|(id, _)| meetings_touched || only.has(Collection::Cases, id)) {
        // Overdue depends on the day the report is read; the report adds it.
        let gaps = case_gaps(c, doc, catalog, c.opened_on);
        let described: Vec<serde_json::Value> = gaps
            .iter()
            .map(|g| {
                let mut v = serde_json::to_value(g).unwrap_or_default();
                v["message"] = serde_json::Value::String(g.describe(catalog, &c.item));
                v
            })
            .collect();
        let row = vec![
            text(id),
            text(&c.item),
            text(&c.title),
            text(c.opened_on),
            opt_text(c.closed_on),
            Val::Int(i64::from(c.voided.is_some())),
            Val::Int(gaps.len() as i64),
            Val::Text(serde_json::to_string(&described).unwrap_or_else(|_| "[]".into())),
        ];
        put(&mut cases, 1, row);
        for (code, s) in &c.steps {
            let seen_at = first_seen(&format!("step:{id}:{code}"));
            // Taken at a meeting of its day and recorded with it (within the late-entry days of
            // the meeting reaching the server): it came late or ahead as the meeting did, one
            // entry, the meeting's, not a second beside it.
            let late_ms = i64::from(catalog.late_entry_days) * 86_400_000;
            let with_its_meeting = s
                .meeting
                .as_ref()
                .filter(|m| doc.meetings.get(*m).is_some_and(|meeting| meeting.held_on == s.done_on))
                .is_some_and(|m| seen_at - first_seen(&format!("meeting:{m}")) <= late_ms);
            let (late, early) = match c.voided {
                Some(_) => (None, None),
                None if with_its_meeting => (None, None),
                None => (late_by(s.done_on, day_of(seen_at), catalog), early_by(s.done_on, day_of(seen_at))),
            };
            let row =
                vec![text(id), text(code), text(s.done_on), Val::Int(seen_at), Val::OptInt(late), Val::OptInt(early)];
            put(&mut steps, 2, row);
        }
    }
    [meetings, points, cases, steps]
}

impl Val {
    fn arg(&self) -> Arg<'_> {
        match self {
            Val::Text(s) => Arg::Text(s),
            Val::OptText(s) => Arg::OptText(s.as_deref()),
            Val::Int(i) => Arg::Int(*i),
            Val::OptInt(i) => Arg::OptInt(*i),
        }
    }
}

/// A row's values, or the values of its key.
type Values = Vec<Val>;

/// For one table: the keys of rows that are gone, and the rows to write with their keys.
type TableChange = (Vec<Values>, Vec<(Values, Values)>);

/// What a push changes in a document's projection rows, worked out before its transaction so
/// the transaction only writes.
#[derive(Debug)]
pub struct Plan {
    /// The rows stored before are not known: replace them all.
    rebuild: bool,
    /// Per table of [`TABLES`]: the keys of rows that are gone, and the rows to write (new, or
    /// replacing the row with the same key).
    tables: Vec<TableChange>,
    /// Meetings and case steps the server sees for the first time, at `received_at`.
    seen_new: Vec<String>,
    received_at: i64,
}

/// The key under which the server remembers when it first received a change of a meeting's
/// date or attendance after it had the meeting (DOMAIN.md: such edits are shown to the
/// township).
fn edited_key(meeting: &RecordId) -> String {
    format!("edited:meeting:{meeting}")
}

/// Whether `after` changes what `before` said of a meeting's date or attendance (who, and
/// present, on leave or absent); a make-up day, a leave's reason and the other fields are not
/// counted.
fn date_or_attendance_changed(before: &Meeting, after: &Meeting) -> bool {
    before.held_on != after.held_on
        || before.attendance.len() != after.attendance.len()
        || before
            .attendance
            .iter()
            .zip(&after.attendance)
            .any(|((m1, a1), (m2, a2))| m1 != m2 || a1.status != a2.status)
}

/// The key under which the server remembers when it first received a change of a member that
/// rewrites the past's figures after it had the member (名册同步后改动).
pub fn member_edited_key(member: &MemberId) -> String {
    format!("{MEMBER_EDITED}{member}")
}

/// The prefix of [`member_edited_key`].
pub const MEMBER_EDITED: &str = "edited:member:";

/// The members of `after` whose change from `was` rewrites figures already shown: a seat on
/// the committee, a party group or a status changed (they have no history, so every past
/// meeting is counted by the new one), or a day of joining, arriving, leaving or becoming full
/// set or moved to more than `late_days` before `today` (back-dated: a member who left in
/// September, entered in December, leaves September's assemblies with a smaller quorum). A day
/// entered in time is the roster kept, not rewritten.
fn edited_members<'a>(
    was: &'a VillageYear,
    after: &'a VillageYear,
    today: Date,
    late_days: u32,
) -> impl Iterator<Item = &'a MemberId> + 'a {
    let back = today.add_days(-i64::from(late_days)).unwrap_or(today);
    after.members.iter().filter_map(move |(id, m)| {
        let old = was.members.get(id)?;
        let moved = |a: Option<Date>, b: Option<Date>| a != b && a.into_iter().chain(b).any(|d| d < back);
        // Becoming full (转正) on a day given in time rewrites nothing: a quorum counts the
        // member as probationary before it.
        let became_full_in_time = old.status == MemberStatus::Probationary
            && m.status == MemberStatus::Full
            && m.full_on.is_some_and(|f| f >= back);
        let changed = old.committee != m.committee
            || old.group != m.group
            || (old.status != m.status && !became_full_in_time)
            || moved(old.left_on, m.left_on)
            || moved(old.arrived_on, m.arrived_on)
            || moved(old.joined_on, m.joined_on)
            || moved(old.full_on, m.full_on);
        changed.then_some(id)
    })
}

/// The meetings of `after` whose date or attendance differ from those of `was`, the document
/// as stored before (voided ones left out: a void says why itself).
fn edited_meetings<'a>(was: &'a VillageYear, after: &'a VillageYear) -> impl Iterator<Item = &'a RecordId> + 'a {
    after.meetings.iter().filter_map(move |(id, m)| {
        let old = was.meetings.get(id)?;
        let changed = !Arc::ptr_eq(old, m) && m.voided.is_none() && date_or_attendance_changed(old, m);
        changed.then_some(id)
    })
}

/// What the stored projection rows of a document were made with: the catalog (its digest) and
/// the rows' own format. Rows made by an older format are made again, at the document's next
/// push and by [`crate::push::catch_up`] when the server starts.
pub fn rows_digest(catalog: &Catalog) -> String {
    format!("{}-r{ROWS_FORMAT}", catalog.digest())
}

/// The format of the projection rows: raised whenever a column is added that only the records
/// can fill, or a figure is computed otherwise (2: `p_meetings.unmarked` and `edited_at`, and
/// committee meetings owed by a branch of seven full members whose roster marks no committee,
/// notice steps, and steps taken at a meeting; 3: attendance at a meeting held while a member
/// was not on the roster counts no points; 4: a case closed after its deadline keeps a gap, and a
/// notice step missing is not also a notice missing; 5: `p_problems`, and a step taken at a
/// meeting and recorded with it is no late or early entry of its own; 6: `p_members.left_on`, and a
/// member who left during the year is not graded).
const ROWS_FORMAT: u32 = 6;

/// The keys under which the server remembers when it first saw a document's meetings and case
/// steps: the basis of late entries.
fn seen_keys(doc: &VillageYear) -> impl Iterator<Item = String> + '_ {
    let meetings = doc.meetings.keys().map(|id| format!("meeting:{id}"));
    let steps = doc.cases.iter().flat_map(|(id, c)| c.steps.keys().map(move |s| format!("step:{id}:{s}")));
    meetings.chain(steps)
}

/// What the projection rows stored now were made from, when known: the records, with this
/// very catalog, the records that may differ from them now, and (when kept) their
/// [`SharedRows`].
#[derive(Debug, Clone, Copy)]
pub struct Before<'a> {
    pub records: &'a VillageYear,
    pub touched: &'a Touched,
    pub shared: Option<&'a SharedRows>,
}

/// The document the rows are made of: its records, and the rules of the records
/// ([`validate`]) they break when admission found them (None: looked for).
#[derive(Debug, Clone, Copy)]
pub struct After<'a> {
    pub records: &'a VillageYear,
    pub problems: Option<&'a [Violation]>,
}

/// The projection rows of `after`, against the rows stored now (all replaced when `before` is
/// not known). `seen` says when the server first saw each meeting and case step so far; the
/// ones new in `after` are added to it, seen at `received_at`, and so are the meetings whose
/// date or attendance `after` changes from `was`, the records as stored before (when known,
/// whatever catalog the rows were made with). Also returns the [`SharedRows`] of `after`, for
/// the next push.
pub fn plan(
    before: Option<Before<'_>>,
    was: Option<&VillageYear>,
    after: After<'_>,
    catalog: &Catalog,
    seen: &mut HashMap<String, i64>,
    received_at: i64,
    by_phones: bool,
) -> (Plan, SharedRows) {
    let After { records: after, problems } = after;
    let mut seen_new = Vec::new();
    let edited = was.into_iter().flat_map(|was| edited_meetings(was, after)).map(edited_key);
    let today = day_of(received_at);
    // The township's own roster imports keep the roster; what a village's phones change after the
    // fact is what is shown.
    let members = was
        .filter(|_| by_phones)
        .into_iter()
        .flat_map(|was| edited_members(was, after, today, catalog.late_entry_days))
        .map(member_edited_key);
    for k in seen_keys(after).chain(edited).chain(members) {
        if !seen.contains_key(&k) {
            seen.insert(k.clone(), received_at);
            seen_new.push(k);
        }
    }
    let seen = &*seen;
    // A roster change can change every meeting's quorum: then every row is compared.
    let only = match before {
        Some(Before { touched: Touched::Records(set), .. }) if !set.iter().any(|(c, _)| *c == Collection::Members) => {
            Only::Records(set)
        }
        _ => Only::All,
    };
    let shared = project_shared(after, catalog, problems);
    let records = project_records(after, catalog, seen, received_at, only);
    let Some(before) = before else {
        let whole = |rows: &Rows| rows.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
        let mut tables = vec![(Vec::new(), whole(&shared.members))];
        tables.extend(records.into_iter().map(|rows| (Vec::new(), rows.into_iter().collect())));
        tables.push((Vec::new(), whole(&shared.compliance)));
        tables.push((Vec::new(), whole(&shared.problems)));
        return (Plan { rebuild: true, tables, seen_new, received_at }, shared);
    };
    let made;
    let old_shared = match before.shared {
        Some(kept) => kept,
        None => {
            made = project_shared(before.records, catalog, None);
            &made
        }
    };
    let old_records = project_records(before.records, catalog, seen, received_at, only);
    let old =
        [&old_shared.members].into_iter().chain(&old_records).chain([&old_shared.compliance, &old_shared.problems]);
    let new = [&shared.members].into_iter().chain(&records).chain([&shared.compliance, &shared.problems]);
    let tables = new
        .zip(old)
        .map(|(new, old)| {
            let stale = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
            let fresh = new.iter().filter(|(k, r)| old.get(*k) != Some(*r)).map(|(k, r)| (k.clone(), r.clone()));
            (stale, fresh.collect())
        })
        .collect();
    (Plan { rebuild: false, tables, seen_new, received_at }, shared)
}

/// Brings the projections of one document from `before` (the records the stored rows were made
/// from with this catalog; None: not known, rebuild them) to `after`, all inside `tx`. Pushes
/// do this in two steps ([`plan`] before their transaction, [`apply`] in it); this is for
/// tools and tests.
pub async fn update(
    tx: &mut Transaction<'_, Any>,
    key: &DocKey,
    before: Option<&VillageYear>,
    after: &VillageYear,
    catalog: &Catalog,
    received_at: i64,
) -> anyhow::Result<()> {
    let mut seen = load_seen(&mut **tx, key).await?;
    let was = before;
    let before = before.map(|records| Before { records, touched: &Touched::All, shared: None });
    let after = After { records: after, problems: None };
    let (plan, _) = plan(before, was, after, catalog, &mut seen, received_at, true);
    apply(tx, key, &plan).await
}

/// When the server first saw each meeting and case step of a document.
pub async fn load_seen<'e, E>(db: E, key: &DocKey) -> anyhow::Result<HashMap<String, i64>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "SELECT record_key, first_seen_at FROM record_seen WHERE township_id = $1 AND village_id = $2 AND year = $3",
    )
    .bind(&key.township)
    .bind(key.village.as_str())
    .bind(i64::from(key.year))
    .fetch_all(db)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("record_key")?, r.try_get("first_seen_at")?)))
    .collect()
}

/// Bind parameters `first..first + n`, as the backend writes them. SQLite gets anonymous `?`:
/// looking a numbered parameter up by name costs SQLite time in proportion to the number of
/// parameters, which made large multi-row statements quadratic.
fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    let one = |j: usize| match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${j}"),
    };
    (first..first + n).map(one).collect::<Vec<_>>().join(", ")
}

/// Writes rows (key columns, then the rest) in multi-row statements; `conflict` is what to do
/// with a row whose key is taken.
async fn write_rows(
    tx: &mut impl Sink,
    key: &DocKey,
    table: &str,
    columns: &[&str],
    conflict: &str,
    rows: &[(Vec<Val>, Vec<Val>)],
) -> anyhow::Result<()> {
    let backend = tx.backend();
    let doc_vals = key.args();
    let width = 3 + columns.len();
    let per_statement = (match backend {
        Backend::Sqlite => 30_000,
        Backend::Postgres => 10_000,
    } / width)
        .max(1);
    for chunk in rows.chunks(per_statement) {
        let mut sql = format!("INSERT INTO {table} (township_id, village_id, year, {}) VALUES ", columns.join(", "));
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&placeholders(backend, i * width + 1, width));
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(conflict);
        // Table and column names come from this module's constants; values are bound.
        let mut args = Vec::with_capacity(chunk.len() * width);
        for (k, rest) in chunk {
            args.extend(doc_vals);
            args.extend(k.iter().chain(rest).map(Val::arg));
        }
        tx.exec(&sql, &args).await?;
    }
    Ok(())
}

/// Deletes rows by primary key.
async fn delete(tx: &mut impl Sink, key: &DocKey, table: &Table, keys: &[Vec<Val>]) -> anyhow::Result<()> {
    let doc_vals = key.args();
    let conds: Vec<String> =
        table.columns[..table.key_len].iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 4)).collect();
    let sql = format!(
        "DELETE FROM {} WHERE township_id = $1 AND village_id = $2 AND year = $3 AND {}",
        table.name,
        conds.join(" AND ")
    );
    for k in keys {
        let args: Vec<Arg<'_>> = doc_vals.into_iter().chain(k.iter().map(Val::arg)).collect();
        tx.exec(&sql, &args).await?;
    }
    Ok(())
}

/// Writes a plan: the record first-seen times, then the projection rows.
pub async fn apply(tx: &mut impl Sink, key: &DocKey, plan: &Plan) -> anyhow::Result<()> {
    let now = vec![Val::Int(plan.received_at)];
    let seen: Vec<(Vec<Val>, Vec<Val>)> = plan.seen_new.iter().map(|k| (vec![text(k)], now.clone())).collect();
    let keep = "ON CONFLICT DO NOTHING";
    write_rows(tx, key, "record_seen", &["record_key", "first_seen_at"], keep, &seen).await?;
    let doc = key.args();
    for (table, (stale, fresh)) in TABLES.iter().zip(&plan.tables) {
        if plan.rebuild {
            let sql = format!("DELETE FROM {} WHERE township_id = $1 AND village_id = $2 AND year = $3", table.name);
            tx.exec(&sql, &doc).await?;
        }
        delete(tx, key, table, stale).await?;
        let (keys, rest) = table.columns.split_at(table.key_len);
        let replace = format!(
            "ON CONFLICT (township_id, village_id, year, {}) DO UPDATE SET {}",
            keys.join(", "),
            rest.iter().map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ")
        );
        write_rows(tx, key, table.name, table.columns, &replace, fresh).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text the migrations make of attendance rows (tests/tests/migrations.rs) is the
    /// text a push writes: members in order, `makeup_on` only when set.
    #[test]
    fn a_meetings_attendance_is_one_json_object_by_member() {
        use zhibu_schema::{Attendance, Line, Meeting, MeetingKind, MemberId};
        let day = |s: &str| Date::parse(s).expect("date");
        let mut m = Meeting::new(MeetingKind::BranchAssembly, day("2026-02-10"), Line::parse("学习").expect("line"));
        let member = |s: &str| MemberId::parse(s).expect("id");
        m.attendance.insert(member("v1-m10"), Attendance { status: AttendanceStatus::Leave, ..Attendance::present() });
        m.attendance
            .insert(member("v1-m02"), Attendance { makeup_on: Some(day("2026-02-15")), ..Attendance::absent() });
        m.attendance.insert(member("v1-m01"), Attendance::present());
        let text = r#"{"v1-m01":{"status":"present"},"v1-m02":{"status":"absent","makeup_on":"2026-02-15"},"v1-m10":{"status":"leave"}}"#;
        assert_eq!(attendance_json(&m), text);
        assert_eq!(
            attendance_json(&Meeting::new(
                MeetingKind::PartyLesson,
                day("2026-03-01"),
                Line::parse("党课").expect("line")
            )),
            "{}"
        );
    }

    #[test]
    fn key_lengths_fit_the_columns() {
        for t in &TABLES {
            assert!(t.key_len >= 1 && t.key_len < t.columns.len(), "{}", t.name);
        }
    }
}
