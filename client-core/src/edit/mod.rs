//! Edits, offline: one user action is one Automerge change, checked before it is committed.
//!
//! Invariants:
//! - **Checked.** The change is validated with `zhibu-schema` inside its transaction, against
//!   the cached catalog; if the document would break a rule it did not break before, the
//!   transaction is rolled back and the call returns [`ClientError::Refused`] with every such
//!   rule. A refused edit writes nothing, in memory or on disk.
//! - **One change per action,** with a commit message naming the action in Chinese
//!   (`记录会议：支部党员大会 2026-03-10`) and the device's time, so sync stays small and the
//!   history reads like a ledger.
//! - **Durable before it returns** (see [`Phone`]).
//! - Records are written field by field (`mapping::put_at`): an action that changes part of a
//!   record (one member's attendance, one step, the notice, `voided`) writes only that part, so
//!   two phones editing different parts of one record merge without a conflict.

mod case;
mod lookup;
mod meeting;
mod points;
mod roster;

use automerge::ReadDoc;
use automerge::transaction::{CommitOptions, Transaction};
use serde::{Deserialize, Serialize};
use zhibu_schema::mapping::WriteError;
use zhibu_schema::{AccountId, Code, Date, Line, MemberId, MemberStatus, Name, PointDelta, Prose, Violation};

pub(crate) use lookup::map_at;

use crate::error::{ClientError, EditRefusal};
use crate::replica::violations_of;
use crate::{DocKey, Phone, clock};

/// A change to a member on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", content = "value", rename_all = "snake_case")]
pub enum MemberChange {
    /// Moves the member to a party group (None: no group).
    Group(Option<Name>),
    /// Gives the member a seat on the branch committee, or takes it away.
    Committee(bool),
    /// Full (正式) or probationary (预备).
    Status(MemberStatus),
    /// The member became full (转正) on this day: before it they count as probationary, so a
    /// quorum of full members is counted as the roster stood at each meeting.
    BecameFull(Date),
    /// The member left the branch (transferred, died, expelled) on this day.
    Left(Date),
    /// The member came to the branch from another (组织关系转入) on this day: not due at the
    /// meetings before it.
    Arrived(Date),
}

/// Corrections to a recorded meeting (a wrong date, a typo in the topic, the resolutions written
/// up afterwards): only the fields given are written, so an edit made meanwhile on another
/// phone to any other field is kept. Attendance is changed member by member
/// ([`Phone::set_attendance`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingEdit {
    /// The day it was held, within the same year (a meeting of another year is voided and
    /// recorded again there).
    pub held_on: Option<Date>,
    /// The topic (议题).
    pub topic: Option<Line>,
    /// Where it was held.
    pub place: Option<Name>,
    /// Who chaired it (主持人).
    pub host: Option<Name>,
    /// Who kept the minutes (记录人).
    pub recorder: Option<Name>,
    /// The party group, for a group meeting.
    pub group: Option<Name>,
    /// What it resolved (决议).
    pub resolutions: Option<Prose>,
}

/// Points to award (positive delta) or deduct (negative delta) by a catalog rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPoints {
    /// Who gets the points.
    pub member_id: MemberId,
    /// The catalog's point rule, e.g. `volunteer`.
    pub rule: Code,
    /// Positive to award, negative to deduct; within the rule's range.
    pub delta: PointDelta,
    /// The day it happened.
    pub on: Date,
    /// What it was for.
    pub note: Option<Prose>,
}

/// A micro-power case to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCase {
    /// The catalog's item, e.g. `homestead`.
    pub item: Code,
    /// What the case is about, e.g. 李家宅基地申请.
    pub title: Line,
    /// The day it was opened; the case goes in that year's document.
    pub opened_on: Date,
    /// Who applied, if anyone.
    pub applicant: Option<Name>,
}

enum Fail {
    Refused(Vec<Violation>),
    Write(WriteError),
}

impl Phone {
    /// Commits `write` on the document `key` as one change with `message`, after checking it;
    /// see the module documentation. `write` gets the account id to put in `by` fields.
    pub(crate) fn commit(
        &self,
        key: &DocKey,
        message: String,
        write: impl FnOnce(&mut Transaction<'_>, &AccountId) -> Result<(), WriteError>,
    ) -> Result<(), ClientError> {
        let changed = self.with(|inner| {
            let by = inner.cadre()?.account.id.clone();
            inner.doc_or_new(key)?;
            let time = clock::unix_seconds();
            let catalog = &inner.catalog.catalog;
            let doc = inner.docs.get_mut(key).expect("created above");
            let before = doc.replica.violations(catalog);
            let result = doc.replica.doc.transact_with::<_, _, Fail, _>(
                |_| CommitOptions::default().with_message(message).with_time(time),
                |tx| {
                    write(tx, &by).map_err(Fail::Write)?;
                    let now = violations_of(&*tx, key, catalog);
                    let new: Vec<Violation> = now.into_iter().filter(|v| !before.contains(v)).collect();
                    if new.is_empty() { Ok(()) } else { Err(Fail::Refused(new)) }
                },
            );
            let hash = match result {
                Ok(success) => success.hash,
                Err(failure) => {
                    return Err(match failure.error {
                        Fail::Refused(violations) => ClientError::Refused(EditRefusal { violations }),
                        Fail::Write(e) => ClientError::Internal(e.to_string()),
                    });
                }
            };
            // Nothing differed from what the document held: no change, nothing to store.
            let Some(hash) = hash else { return Ok(false) };
            let change = doc.replica.doc.get_change_by_hash(&hash).expect("the change just committed");
            let bytes = change.raw_bytes().to_vec();
            inner.persist(key, &bytes)?;
            Ok(true)
        })?;
        if changed {
            self.edited().notify_one();
        }
        Ok(())
    }
}

/// The document of the year a record is dated in, for a cadre's village.
fn key_for(phone: &Phone, day: Date, collection: zhibu_schema::Collection, field: &str) -> Result<DocKey, ClientError> {
    let village = phone.with(|inner| inner.village())?;
    let year = zhibu_schema::Year::new(i64::from(day.year_number())).map_err(|e| {
        ClientError::Refused(EditRefusal {
            violations: vec![Violation::new(collection, "", field, zhibu_schema::Rule::DateOutsideYear, e.to_string())],
        })
    })?;
    Ok(DocKey::new(village, year))
}

/// Why `member` was not on the roster on `day` (had left, had not joined or come yet), if so.
pub(crate) fn off_roster(member: &zhibu_schema::Member, day: zhibu_schema::Date) -> Option<String> {
    if member.active_on(day) {
        return None;
    }
    let name = &member.name;
    Some(match (member.left_on, member.joined_on, member.arrived_on) {
        (Some(left), _, _) if left <= day => format!("{name}已于 {left} 离开支部"),
        (_, Some(joined), _) if joined > day => format!("{name}于 {joined} 才入党"),
        (_, _, Some(arrived)) => format!("{name}于 {arrived} 才转入本支部"),
        _ => format!("{name}当天不在名册上"),
    })
}
