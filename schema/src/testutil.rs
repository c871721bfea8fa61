//! Shared fixtures for this crate's unit tests.

use crate::*;

pub(crate) fn d(s: &str) -> Date {
    Date::parse(s).expect(s)
}
pub(crate) fn name(s: &str) -> Name {
    Name::parse(s).expect(s)
}
pub(crate) fn line(s: &str) -> Line {
    Line::parse(s).expect(s)
}
pub(crate) fn prose(s: &str) -> Prose {
    Prose::parse(s).expect(s)
}
pub(crate) fn code(s: &str) -> Code {
    Code::parse(s).expect(s)
}
pub(crate) fn mid(s: &str) -> MemberId {
    MemberId::parse(s).expect(s)
}
pub(crate) fn account(s: &str) -> AccountId {
    AccountId::parse(s).expect(s)
}
pub(crate) fn rid(n: u128) -> RecordId {
    RecordId::from_u128(n)
}

/// A village of 12 members (v1-m01..v1-m12; m01..m03 on the committee; m08 probationary) in
/// 2 groups, with a few of every kind of record.
pub(crate) fn village() -> VillageYear {
    let mut doc = sample::roster(&VillageId::parse("v1").expect("id"), Year::new(2026).expect("y"), 12, 2);
    let mut assembly = Meeting::new(MeetingKind::BranchAssembly, d("2026-03-10"), line("学习贯彻全会精神"));
    assembly.place = Some(name("村委会议室"));
    assembly.host = Some(name("王春生"));
    assembly.resolutions = Some(prose("一、通过年度工作计划\n二、确定发展对象"));
    for (i, id) in doc.members.keys().enumerate() {
        let a = match i {
            0..=7 => Attendance::present(),
            8 => Attendance::leave(prose("外出务工"), Some(name("王春生"))),
            9 => Attendance { makeup_on: Some(d("2026-03-20")), ..Attendance::absent() },
            _ => Attendance::absent(),
        };
        assembly.attendance.insert(id.clone(), a);
    }
    doc.meetings.insert(rid(1), assembly.into());
    let mut voided = Meeting::new(MeetingKind::ThemeDay, d("2026-03-05"), line("录错的会议"));
    voided.attendance.insert(mid("v1-m01"), Attendance::absent());
    voided.voided = Some(Voided { reason: prose("重复录入"), by: account("cadre1") });
    doc.meetings.insert(rid(2), voided.into());
    doc.points.insert(
        rid(3),
        PointEntry {
            member_id: mid("v1-m01"),
            rule: code("volunteer"),
            delta: PointDelta::new(3).expect("delta"),
            on: d("2026-04-02"),
            note: Some(prose("参加防汛值守")),
            by: account("cadre1"),
            voided: None,
        }
        .into(),
    );
    let mut case = Case::new(code("homestead"), line("李家宅基地申请"), d("2026-02-01"));
    case.applicant = Some(name("李志强"));
    case.steps.insert(code("application"), Step::new(d("2026-02-01"), account("cadre1"), None));
    case.steps.insert(
        code("qualification_review"),
        Step::new(d("2026-02-05"), account("cadre2"), Some(prose("符合一户一宅"))),
    );
    case.notice = Some(Notice { from: d("2026-02-06"), to: d("2026-02-12"), place: Some(name("村务公开栏")) });
    doc.cases.insert(rid(4), case.into());
    doc
}

/// The village written into a fresh Automerge document.
pub(crate) fn automerge_of(doc: &VillageYear) -> automerge::Automerge {
    let mut am = mapping::genesis(&doc.village_id, doc.year);
    am.set_actor(automerge::ActorId::from(b"test-phone".as_slice()));
    am.transact::<_, _, mapping::WriteError>(|tx| mapping::put_document(tx, doc)).expect("writes");
    am
}

/// A document as read, its problems in a fixed order: two reads of the same records compare
/// equal whatever order they found the problems in.
pub(crate) fn sorted(h: &crate::mapping::Hydrated) -> (VillageYear, Vec<Violation>) {
    let mut problems = h.problems.clone();
    problems.sort();
    (h.doc.clone(), problems)
}
