//! The benchmark's village records, generated: a roster of 50 members in three party groups, and
//! for every month what the issue calls a month of a busy village: 4 meetings with 40 attendees
//! each, 20 point entries and 3 case steps (odd months also open the case whose six steps run
//! over that month and the next). The same arguments always give the same records.
//!
//! Records are made as typed `zhibu-schema` values, then written either as one Automerge change
//! per user action (as a phone makes them) or through the real phone library's edit calls.

use std::collections::HashMap;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge};
use zhibu_client::{NewCase, NewPoints, Phone};
use zhibu_schema::mapping::{self, WriteError};
use zhibu_schema::{
    AccountId, Attendance, Case, Code, Collection, Date, Line, Meeting, MeetingKind, MemberId, Name, PointDelta,
    PointEntry, Prose, RecordId, Step, VillageId, VillageYear, Year, sample,
};

pub const MEMBERS: usize = 50;
pub const GROUPS: usize = 3;
pub const ATTENDEES: usize = 40;
pub const MEETINGS_PER_MONTH: usize = 4;
pub const POINTS_PER_MONTH: usize = 20;
pub const STEPS_PER_MONTH: usize = 3;

/// One user action, as a cadre records it on the phone.
#[derive(Debug, Clone)]
pub enum Action {
    Meeting(RecordId, Meeting),
    Points(RecordId, PointEntry),
    OpenCase(RecordId, Case),
    Step(RecordId, Code, Step),
}

pub fn roster(village: &VillageId, year: Year) -> VillageYear {
    sample::roster(village, year, MEMBERS, GROUPS)
}

fn day(year: Year, month: u8, d: u8) -> Date {
    Date::from_ymd(year, month, d).expect("generated days exist")
}

fn line(s: &str) -> Line {
    Line::parse(s).expect("generated text is valid")
}

fn prose(s: &str) -> Prose {
    Prose::parse(s).expect("generated text is valid")
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("generated names are valid")
}

/// Ids unique per (`salt`, month, kind of record, index).
fn id(salt: u64, month: u8, kind: u8, index: usize) -> RecordId {
    RecordId::from_u128((u128::from(salt) << 64) | (u128::from(month) << 24) | (u128::from(kind) << 16) | index as u128)
}

const STEPS: [&str; 6] =
    ["proposal", "consultation", "assembly_review", "villager_resolution", "resolution_notice", "result_notice"];

/// The actions of one month (1 to 12) of a village, by `by`. `salt` keeps the ids of different
/// villages and phones apart.
pub fn month(roster: &VillageYear, month: u8, by: &AccountId, salt: u64) -> Vec<Action> {
    month_on_cases_of(roster, month, by, salt, salt)
}

/// [`month`], with the case steps on the cases made with `case_salt`: a second phone's month
/// that works on the same cases as the first.
pub fn month_on_cases_of(roster: &VillageYear, month: u8, by: &AccountId, salt: u64, case_salt: u64) -> Vec<Action> {
    let year = roster.year;
    let members: Vec<(&MemberId, &zhibu_schema::Member)> = roster.members.iter().collect();
    let groups: Vec<Name> = {
        let mut g: Vec<Name> = roster.members.values().filter_map(|m| m.group.clone()).collect();
        g.sort();
        g.dedup();
        g
    };
    let mut out = Vec::new();
    let fourth = match month % 3 {
        0 => MeetingKind::BranchAssembly,
        1 => MeetingKind::PartyLesson,
        _ => MeetingKind::GroupMeeting,
    };
    let kinds = [MeetingKind::BranchCommittee, MeetingKind::ThemeDay, MeetingKind::GroupMeeting, fourth];
    for (j, kind) in kinds.into_iter().enumerate() {
        let held_on = day(year, month, 3 + 7 * j as u8);
        let mut m =
            Meeting::new(kind, held_on, line(&format!("{month}月{}：学习贯彻会议精神，部署本月工作", kind.label())));
        m.place = Some(name("村党群服务中心"));
        m.host = Some(members[0].1.name.clone());
        m.recorder = Some(members[1].1.name.clone());
        if kind == MeetingKind::GroupMeeting {
            m.group = Some(groups[(usize::from(month) + j) % groups.len()].clone());
        }
        if kind == MeetingKind::BranchCommittee {
            m.resolutions = Some(prose("一、做好秋冬季防火工作；二、推进村道硬化项目；三、走访慰问困难党员。"));
        }
        for i in 0..ATTENDEES {
            let (member, _) = members[(i + usize::from(month) * 3 + j) % members.len()];
            let a = if i % 10 == 7 {
                Attendance::leave(prose("外出务工"), Some(members[0].1.name.clone()))
            } else if i % 13 == 5 {
                Attendance::absent()
            } else {
                Attendance::present()
            };
            m.attendance.insert(member.clone(), a);
        }
        out.push(Action::Meeting(id(salt, month, 1, j), m));
    }
    let rules: [(&str, i64, &str); 5] = [
        ("volunteer", 2, "参加村道清扫志愿服务"),
        ("lead_prosperity", 5, "带动三户村民发展种植"),
        ("volunteer", 3, "协助开展防汛值守"),
        ("dues_late", -2, "未按时交纳党费"),
        ("honour", 5, "获评镇级优秀党员"),
    ];
    for i in 0..POINTS_PER_MONTH {
        let (rule, delta, note) = rules[i % rules.len()];
        let (member, _) = members[(i * 7 + usize::from(month)) % members.len()];
        let entry = PointEntry {
            member_id: member.clone(),
            rule: Code::parse(rule).expect("catalog rule"),
            delta: PointDelta::new(delta).expect("delta"),
            on: day(year, month, 1 + (i % 27) as u8),
            note: Some(prose(note)),
            by: by.clone(),
            voided: None,
        };
        out.push(Action::Points(id(salt, month, 2, i), entry));
    }
    // A case runs over two months: opened in the odd month with its first three steps, the
    // other three in the even month.
    let opening = if month % 2 == 1 { month } else { month - 1 };
    let case = id(case_salt, opening, 3, 0);
    if month % 2 == 1 && case_salt == salt {
        let mut c = Case::new(
            Code::parse("major_decision").expect("catalog item"),
            line(&format!("{month}月村道硬化工程决策")),
            day(year, month, 2),
        );
        c.applicant = Some(members[2].1.name.clone());
        out.push(Action::OpenCase(case.clone(), c));
    }
    let first = if month % 2 == 1 { 0 } else { STEPS_PER_MONTH };
    for (k, code) in STEPS[first..first + STEPS_PER_MONTH].iter().enumerate() {
        let step = Step::new(day(year, month, 5 + 7 * k as u8), by.clone(), Some(prose("按程序办理")));
        out.push(Action::Step(case.clone(), Code::parse(code).expect("catalog step"), step));
    }
    out
}

fn message(action: &Action) -> String {
    match action {
        Action::Meeting(_, m) => format!("记录会议：{} {}", m.kind.label(), m.held_on),
        Action::Points(_, p) => format!("奖励积分：{} {:+}", p.member_id, p.delta.get()),
        Action::OpenCase(_, c) => format!("立项：{}", c.title),
        Action::Step(_, code, _) => format!("完成步骤：{code}"),
    }
}

fn write(tx: &mut automerge::transaction::Transaction<'_>, action: &Action) -> Result<(), WriteError> {
    match action {
        Action::Meeting(id, m) => mapping::put_record_id(tx, Collection::Meetings, id, m),
        Action::Points(id, p) => mapping::put_record_id(tx, Collection::Points, id, p),
        Action::OpenCase(id, c) => mapping::put_record_id(tx, Collection::Cases, id, c),
        Action::Step(case, code, s) => mapping::put_at(tx, &["cases", case.as_str(), "steps", code.as_str()], s),
    }
}

/// Commits `actions` on `doc`, one change each (as a phone does), or all as one change.
pub fn commit(doc: &mut Automerge, actions: &[Action], per_action: bool, time: i64) {
    let opts = |m: String| CommitOptions::default().with_message(m).with_time(time);
    if per_action {
        for a in actions {
            doc.transact_with::<_, _, WriteError, _>(|_| opts(message(a)), |tx| write(tx, a))
                .map_err(|f| f.error)
                .expect("generated records write");
        }
    } else {
        doc.transact_with::<_, _, WriteError, _>(
            |_| opts(format!("{} 条记录", actions.len())),
            |tx| actions.iter().try_for_each(|a| write(tx, a)),
        )
        .map_err(|f| f.error)
        .expect("generated records write");
    }
}

/// A village-year document as the server would hold it: the genesis, the roster imported by
/// the server, then `months` of records by two cadres' phones (`actors`), one change per
/// action, or one change per month when `per_action` is false (faster to make, same records).
pub fn village_doc(
    village: &VillageId,
    year: Year,
    months: std::ops::RangeInclusive<u8>,
    per_action: bool,
) -> Automerge {
    let roster = roster(village, year);
    let mut doc = mapping::genesis(village, year);
    doc.set_actor(ActorId::from(format!("bench-server/{village}").into_bytes()));
    doc.transact_with::<_, _, WriteError, _>(
        |_| CommitOptions::default().with_message("导入党员名册").with_time(0),
        |tx| {
            for (id, m) in &roster.members {
                mapping::put_record(tx, Collection::Members, id.as_str(), m)?;
            }
            Ok(())
        },
    )
    .map_err(|f| f.error)
    .expect("roster writes");
    let cadres = cadre_actors(village);
    for m in months {
        let (actor, account) = &cadres[usize::from(m) % 2];
        doc.set_actor(actor.clone());
        let actions = month(&roster, m, account, salt_of(village, 0));
        commit(&mut doc, &actions, per_action, 0);
    }
    doc
}

/// The actors under which [`village_doc`] writes the months of a village's cadres `a` and `b`,
/// with their accounts.
pub fn cadre_actors(village: &VillageId) -> [(ActorId, AccountId); 2] {
    ['a', 'b'].map(|which| {
        (ActorId::from(format!("bench-cadre/{village}/{which}").into_bytes()), cadre_account(village, which))
    })
}

/// The account of a village's cadre `a` or `b`.
pub fn cadre_account(village: &VillageId, which: char) -> AccountId {
    AccountId::parse(&format!("{village}-cadre-{which}")).expect("valid account id")
}

/// A number that keeps the record ids of a village (and a phone, `phone` > 0) apart.
pub fn salt_of(village: &VillageId, phone: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in village.as_str().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ phone.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Records `actions` through the phone library's own edit calls (each validated and made
/// durable as on a phone). Cases opened here get the phone's own ids; `cases` maps the
/// generated ids to them.
pub fn apply_to_phone(
    phone: &Phone,
    actions: &[Action],
    cases: &mut HashMap<RecordId, RecordId>,
) -> anyhow::Result<()> {
    for a in actions {
        match a {
            Action::Meeting(_, m) => {
                phone.record_meeting(m)?;
            }
            Action::Points(_, p) => {
                phone.award_points(&NewPoints {
                    member_id: p.member_id.clone(),
                    rule: p.rule.clone(),
                    delta: p.delta,
                    on: p.on,
                    note: p.note.clone(),
                })?;
            }
            Action::OpenCase(id, c) => {
                let new = phone.open_case(&NewCase {
                    item: c.item.clone(),
                    title: c.title.clone(),
                    opened_on: c.opened_on,
                    applicant: c.applicant.clone(),
                })?;
                cases.insert(id.clone(), new);
            }
            Action::Step(case, code, s) => {
                let case = cases.get(case).unwrap_or(case);
                phone.complete_step(case, code, s.done_on, s.note.as_ref())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhibu_schema::{Catalog, check_document};

    #[test]
    fn a_generated_year_is_valid_and_as_busy_as_the_issue_says() {
        let v = VillageId::parse("b1").expect("id");
        let y = Year::new(2026).expect("year");
        let doc = village_doc(&v, y, 1..=12, false);
        let records = check_document(&doc, &v, y, &Catalog::default()).expect("valid");
        assert_eq!(records.members.len(), MEMBERS);
        assert_eq!(records.meetings.len(), 12 * MEETINGS_PER_MONTH);
        assert!(records.meetings.values().all(|m| m.attendance.len() == ATTENDEES));
        assert_eq!(records.points.len(), 12 * POINTS_PER_MONTH);
        assert_eq!(records.cases.len(), 6);
        assert_eq!(records.cases.values().map(|c| c.steps.len()).sum::<usize>(), 12 * STEPS_PER_MONTH);
    }
}
