use std::sync::Arc;

use crate::testutil::*;
use crate::*;

fn catalog() -> Catalog {
    Catalog::default()
}

#[test]
fn score_is_base_plus_attendance_plus_manual_entries() {
    let doc = village();
    let s = member_score(&doc, &catalog(), &mid("v1-m01")).expect("on roster");
    assert_eq!(s.base, 100);
    // Present at the assembly (0), +3 volunteering; the voided theme day absence does not count.
    assert_eq!(s.total, 103);
    assert_eq!(s.grade, Some(Grade::Excellent));
    let lines: Vec<_> = s.entries.iter().map(|e| (e.on.to_string(), e.rule.to_string(), e.delta, e.source)).collect();
    assert_eq!(
        lines,
        [
            ("2026-03-10".into(), "attend_present".into(), 0, RuleSource::Attendance),
            ("2026-04-02".into(), "volunteer".into(), 3, RuleSource::Manual),
        ]
    );
    assert_eq!(s.entries[0].note.as_deref(), Some("支部党员大会：学习贯彻全会精神"));
    assert_eq!(s.entries[1].note.as_deref(), Some("参加防汛值守"));
}

#[test]
fn absence_costs_points_and_a_make_up_halves_the_loss() {
    let doc = village();
    let absent = member_score(&doc, &catalog(), &mid("v1-m11")).expect("m11");
    assert_eq!(absent.total, 98);
    let made_up = member_score(&doc, &catalog(), &mid("v1-m10")).expect("m10");
    assert_eq!(made_up.total, 99);
    assert_eq!(
        made_up.entries.last().map(|e| (e.rule.as_str(), e.on.to_string())),
        Some(("attend_makeup", "2026-03-20".into()))
    );
}

/// Only a member on the roster on the day of a meeting gains or loses by its attendance: one
/// who had left by then was never asked to come. Committee seats and groups have no history (a
/// member may have left the committee since), so attendance at their meetings counts as
/// recorded.
#[test]
fn attendance_counts_only_for_members_on_the_roster_that_day() {
    let mut doc = village();
    let score = |doc: &VillageYear, id: &str| member_score(doc, &catalog(), &mid(id)).expect("on roster");
    assert_eq!(score(&doc, "v1-m11").total, 98, "absent from the assembly");
    doc.members.get_mut(&mid("v1-m11")).expect("m11").left_on = Some(d("2026-03-01"));
    let left = score(&doc, "v1-m11");
    assert_eq!((left.total, left.entries.len()), (100, 0), "had left by then");
    assert_eq!((left.grade, left.left_on), (None, Some(d("2026-03-01"))), "left during the year: not graded");
    let graded = all_totals(&doc, &catalog()).into_iter().find(|t| t.member_id == mid("v1-m11")).expect("m11");
    assert_eq!(graded.grade, None);

    let mut committee = Meeting::new(MeetingKind::BranchCommittee, d("2026-05-06"), line("支委会"));
    for id in ["v1-m01", "v1-m02", "v1-m12"] {
        committee.attendance.insert(mid(id), Attendance::absent());
    }
    doc.meetings.insert(rid(9), committee.into());
    assert!(doc.members[&mid("v1-m01")].committee && !doc.members[&mid("v1-m12")].committee);
    assert_eq!(score(&doc, "v1-m02").total, 98, "on the committee");
    assert_eq!(score(&doc, "v1-m12").total, 96, "off the committee now, absent as recorded then");
    let got: Vec<_> = all_totals(&doc, &catalog()).into_iter().map(|t| (t.member_id, t.total)).collect();
    let expected: Vec<_> = all_scores(&doc, &catalog()).into_iter().map(|s| (s.member_id, s.total)).collect();
    assert_eq!(got, expected);
}

/// A meeting dated after the day the figures are for (entered ahead) is planned, not held: the
/// phone's figures leave it out, and the server's rows, made from every meeting of the year,
/// give the same once it is left out of them.
#[test]
fn meetings_entered_ahead_count_from_their_day() {
    let mut doc = village();
    let mut committee = Meeting::new(MeetingKind::BranchCommittee, d("2026-05-20"), line("支委会"));
    for id in doc.members.iter().filter(|(_, m)| m.committee).map(|(id, _)| id.clone()).collect::<Vec<_>>() {
        committee.attendance.insert(id, Attendance::present());
    }
    doc.meetings.insert(rid(9), committee.into());
    let may = |rows: &[ComplianceRow]| {
        rows.iter().find(|r| r.kind == MeetingKind::BranchCommittee && r.period == Period::Month(5)).cloned()
    };
    let as_of = d("2026-05-10");
    let phone = compliance(&doc, &catalog(), as_of);
    let row = may(&phone).expect("May's row");
    assert_eq!((row.held, row.valid, row.state), (0, 0, PeriodState::Pending));
    assert_eq!(may(&compliance(&doc, &catalog(), d("2026-05-20"))).expect("row").state, PeriodState::Met);
    let mut stored = compliance(&doc, &catalog(), doc.year.last_day());
    for (id, m) in doc.live_meetings() {
        for r in &mut stored {
            r.leave_out_ahead(doc.year, id, (m.kind, m.group.as_ref().map(|g| g.as_str()), m.held_on), as_of);
        }
    }
    let states = |rows: Vec<ComplianceRow>| -> Vec<_> {
        rows.into_iter()
            .map(|mut r| {
                r.state = PeriodState::on(
                    r.required,
                    r.valid,
                    r.period.first_day(doc.year),
                    r.period.last_day(doc.year),
                    as_of,
                );
                r
            })
            .collect()
    };
    assert_eq!(states(stored), phone);
}

#[test]
fn approved_leave_neither_earns_nor_loses() {
    let s = member_score(&village(), &catalog(), &mid("v1-m09")).expect("m09");
    assert_eq!((s.total, s.entries.len()), (100, 0));
}

#[test]
fn probationary_members_have_a_score_and_no_grade() {
    let s = member_score(&village(), &catalog(), &mid("v1-m08")).expect("m08");
    assert_eq!(s.status, MemberStatus::Probationary);
    assert_eq!((s.total, s.grade), (100, None));
}

#[test]
fn grades_follow_the_catalog_and_voided_entries_do_not_count() {
    let mut doc = village();
    let mut c = catalog();
    for (n, delta) in [(10, -20), (11, -20)] {
        doc.points.insert(
            rid(n),
            PointEntry {
                member_id: mid("v1-m02"),
                rule: code("discipline"),
                delta: PointDelta::new(delta).expect("delta"),
                on: d("2026-05-01"),
                note: None,
                by: account("cadre1"),
                voided: None,
            }
            .into(),
        );
    }
    assert_eq!(member_score(&doc, &c, &mid("v1-m02")).map(|s| (s.total, s.grade)), Some((60, Some(Grade::Qualified))));
    Arc::make_mut(doc.points.get_mut(&rid(11)).expect("p")).voided =
        Some(Voided { reason: prose("录错"), by: account("cadre1") });
    assert_eq!(member_score(&doc, &c, &mid("v1-m02")).map(|s| (s.total, s.grade)), Some((80, Some(Grade::Good))));
    c.base_score = 60;
    assert_eq!(member_score(&doc, &c, &mid("v1-m02")).map(|s| s.grade), Some(Some(Grade::Unqualified)));
    let dist = grade_distribution(&all_scores(&doc, &c));
    assert_eq!(dist.iter().map(|(_, n)| n).sum::<usize>(), 11, "the probationary member is not graded");
    assert_eq!(member_score(&doc, &c, &mid("nobody")), None);
}

fn summary(doc: &VillageYear, period: Period, as_of: &str) -> Vec<KindSummary> {
    summarize(&compliance(doc, &catalog(), d(as_of)), period)
}

fn kind(s: &[KindSummary], k: MeetingKind) -> &KindSummary {
    s.iter().find(|r| r.kind == k).expect("kind present")
}

#[test]
fn an_assembly_with_quorum_counts_for_its_quarter() {
    let doc = village();
    // 7 of 11 full members present (m08 came but is probationary): quorum met.
    let q = quorum(&doc, &doc.meetings[&rid(1)], Quorum::MajorityOfFull).expect("has quorum rule");
    assert_eq!((q.present, q.due), (7, 11));
    assert!(q.met());
    let s = summary(&doc, Period::Quarter(1), "2026-04-15");
    let a = kind(&s, MeetingKind::BranchAssembly);
    assert_eq!((a.required, a.held, a.valid, a.behind), (1, 1, 1, false));
    let lesson = kind(&s, MeetingKind::PartyLesson);
    assert_eq!((lesson.required, lesson.held, lesson.behind), (1, 0, true));
    let theme = kind(&s, MeetingKind::ThemeDay);
    assert_eq!((theme.required, theme.held, theme.behind), (3, 0, true), "the voided theme day does not count");
}

#[test]
fn a_member_who_became_full_later_counts_as_probationary_at_earlier_meetings() {
    let mut doc = village();
    let m08 = doc.members.get_mut(&mid("v1-m08")).expect("m08");
    m08.status = MemberStatus::Full;
    // Full since before the March assembly: one more full member due, and present.
    let q = quorum(&doc, &doc.meetings[&rid(1)], Quorum::MajorityOfFull).expect("q");
    assert_eq!((q.present, q.due), (8, 12));
    // Full since September (转正): at the March assembly still probationary, as it stood then.
    doc.members.get_mut(&mid("v1-m08")).expect("m08").full_on = Some(d("2026-09-01"));
    let q = quorum(&doc, &doc.meetings[&rid(1)], Quorum::MajorityOfFull).expect("q");
    assert_eq!((q.present, q.due), (7, 11));
    let m08 = &doc.members[&mid("v1-m08")];
    assert_eq!(member_score(&doc, &catalog(), &mid("v1-m08")).map(|s| s.grade.is_some()), Some(true), "{m08:?}");
}

#[test]
fn quorum_is_computed_from_members_due_not_from_those_who_came() {
    let mut doc = village();
    let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
    // Record only the five who came: the due are still all eleven full members.
    m.attendance.retain(|id, _| ["v1-m01", "v1-m02", "v1-m03", "v1-m04", "v1-m05"].contains(&id.as_str()));
    let q = quorum(&doc, &doc.meetings[&rid(1)], Quorum::MajorityOfFull).expect("q");
    assert_eq!((q.present, q.due, q.met()), (5, 11, false));
    let s = summary(&doc, Period::Quarter(1), "2026-04-15");
    let a = kind(&s, MeetingKind::BranchAssembly);
    assert_eq!((a.held, a.valid, a.quorum_failures.clone(), a.behind), (1, 0, vec![rid(1)], true));
}

#[test]
fn members_due_and_left_out_of_the_attendance_are_unmarked() {
    let mut doc = village();
    assert!(unmarked_members(&doc, &doc.meetings[&rid(1)], &catalog()).is_empty(), "the sample records everyone");
    let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
    m.attendance.retain(|id, _| !["v1-m04", "v1-m05"].contains(&id.as_str()));
    let ids: Vec<&str> =
        unmarked_members(&doc, &doc.meetings[&rid(1)], &catalog()).iter().map(|m| m.as_str()).collect();
    assert_eq!(ids, ["v1-m04", "v1-m05"]);
    // A member who left before the meeting is not due, so not unmarked.
    doc.members.get_mut(&mid("v1-m05")).expect("m").left_on = Some(d("2026-01-01"));
    let ids: Vec<&str> =
        unmarked_members(&doc, &doc.meetings[&rid(1)], &catalog()).iter().map(|m| m.as_str()).collect();
    assert_eq!(ids, ["v1-m04"]);
    // A group meeting owes only its own group.
    let mut g = Meeting::new(MeetingKind::GroupMeeting, d("2026-01-15"), line("小组学习"));
    g.group = Some(name("第一党小组"));
    let first: Vec<&MemberId> = doc
        .members
        .iter()
        .filter(|(_, m)| m.group.as_ref().map(|g| g.as_str()) == Some("第一党小组") && m.left_on.is_none())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(unmarked_members(&doc, &g, &catalog()), first);
}

/// A member who came from another branch during the year (组织关系转入) is due from that day:
/// the meetings before it neither list them as not marked nor cost them points, and the roster
/// keeps the day through the document.
#[test]
fn a_member_who_arrived_during_the_year_is_due_from_that_day() {
    let mut doc = village();
    let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
    m.attendance.remove(&mid("v1-m04"));
    doc.members.get_mut(&mid("v1-m04")).expect("m04").arrived_on = Some(d("2026-06-01"));
    assert!(unmarked_members(&doc, &doc.meetings[&rid(1)], &catalog()).is_empty(), "not here in March");
    let mut july = Meeting::new(MeetingKind::ThemeDay, d("2026-07-01"), line("七一"));
    july.attendance.insert(mid("v1-m01"), Attendance::present());
    let ids: Vec<&str> = unmarked_members(&doc, &july, &catalog()).iter().map(|m| m.as_str()).collect();
    assert!(ids.contains(&"v1-m04"), "{ids:?}");
    let read = crate::mapping::read(&automerge_of(&doc)).expect("reads").doc;
    assert_eq!(read.members[&mid("v1-m04")].arrived_on, Some(d("2026-06-01")));
    // A day outside the document's year is a mistake.
    doc.members.get_mut(&mid("v1-m04")).expect("m04").arrived_on = Some(d("2025-12-01"));
    let problems = crate::validate::validate(&doc, &catalog());
    assert!(problems.iter().any(|v| v.field == "arrived_on" && v.rule == Rule::DateOutsideYear), "{problems:?}");
}

#[test]
fn members_who_left_or_joined_later_are_not_due() {
    let mut doc = village();
    for id in ["v1-m11", "v1-m12"] {
        doc.members.get_mut(&mid(id)).expect("m").left_on = Some(d("2026-03-01"));
    }
    doc.members.get_mut(&mid("v1-m07")).expect("m").joined_on = Some(d("2026-06-01"));
    let q = quorum(&doc, &doc.meetings[&rid(1)], Quorum::MajorityOfFull).expect("q");
    assert_eq!((q.present, q.due), (6, 8));
}

#[test]
fn periods_under_way_are_pending_and_future_ones_not_required() {
    let doc = village();
    let s = summary(&doc, Period::Year, "2026-02-10");
    let committee = kind(&s, MeetingKind::BranchCommittee);
    assert_eq!((committee.required, committee.behind, committee.pending), (2, true, true));
    let org = kind(&s, MeetingKind::OrgLifeMeeting);
    assert_eq!((org.required, org.behind, org.pending), (1, false, true));
}

#[test]
fn meetings_beyond_a_periods_requirement_do_not_make_up_for_another_period() {
    let mut doc = village();
    for (n, day) in [(20, "2026-01-08"), (21, "2026-01-22"), (22, "2026-01-29")] {
        doc.meetings.insert(rid(n), Meeting::new(MeetingKind::ThemeDay, d(day), line("主题党日")).into());
    }
    let s = summary(&doc, Period::Quarter(1), "2026-04-15");
    let theme = kind(&s, MeetingKind::ThemeDay);
    // Three in January, none in February or March: one month of three is met.
    assert_eq!((theme.required, theme.valid, theme.counted, theme.behind), (3, 3, 1, true));
    let s = summary(&doc, Period::Month(1), "2026-04-15");
    assert_eq!(kind(&s, MeetingKind::ThemeDay).counted, 1, "one a month is what January owed");
}

#[test]
fn a_month_view_shows_quarterly_requirements_by_their_quarter() {
    let doc = village();
    let s = summary(&doc, Period::Month(2), "2026-12-31");
    assert_eq!(kind(&s, MeetingKind::BranchAssembly).held, 1, "the March assembly serves the first quarter");
    assert_eq!(kind(&s, MeetingKind::ThemeDay).required, 1);
}

#[test]
fn group_meetings_are_required_of_each_group() {
    let mut doc = village();
    let mut g = Meeting::new(MeetingKind::GroupMeeting, d("2026-01-15"), line("小组学习"));
    g.group = Some(name("第一党小组"));
    doc.meetings.insert(rid(20), g.into());
    let s = summary(&doc, Period::Month(1), "2026-12-31");
    let groups: Vec<_> = s
        .iter()
        .filter(|r| r.kind == MeetingKind::GroupMeeting)
        .map(|r| (r.group.clone().unwrap_or_default(), r.held, r.behind))
        .collect();
    assert_eq!(groups, [("第一党小组".to_owned(), 1, false), ("第二党小组".to_owned(), 0, true)]);
}

fn case() -> Case {
    (*village().cases[&rid(4)]).clone()
}

fn gaps(c: &Case, as_of: &str) -> Vec<CaseGap> {
    case_gaps(c, &village(), &catalog(), d(as_of))
}

#[test]
fn an_open_case_in_order_has_no_gaps() {
    assert_eq!(gaps(&case(), "2026-02-20"), vec![]);
}

#[test]
fn a_closed_case_must_have_every_step() {
    let mut c = case();
    c.closed_on = Some(d("2026-02-20"));
    assert_eq!(
        gaps(&c, "2026-02-20"),
        [CaseGap::MissingStep { step: code("notice") }, CaseGap::MissingStep { step: code("report_to_township") }]
    );
    assert_eq!(gaps(&c, "2026-02-20")[0].describe(&catalog(), &c.item), "缺少步骤「公示」");
}

#[test]
fn a_skipped_step_is_missing_even_while_open() {
    let mut c = case();
    c.steps.remove(&code("qualification_review"));
    c.steps.insert(code("notice"), Step::new(d("2026-02-06"), account("cadre1"), None));
    assert_eq!(gaps(&c, "2026-02-20"), [CaseGap::MissingStep { step: code("qualification_review") }]);
}

#[test]
fn steps_out_of_order_are_flagged() {
    let mut c = case();
    c.steps.get_mut(&code("application")).expect("s").done_on = d("2026-02-10");
    let g = gaps(&c, "2026-02-20");
    assert_eq!(g, [CaseGap::OutOfOrder { step: code("qualification_review"), after: code("application") }]);
    assert_eq!(g[0].describe(&catalog(), &c.item), "步骤「资格审查」的日期早于前一步「申请」");
}

#[test]
fn notices_must_exist_and_run_their_days() {
    let mut c = case();
    c.closed_on = Some(d("2026-03-01"));
    for s in ["notice", "report_to_township"] {
        c.steps.insert(code(s), Step::new(d("2026-02-20"), account("cadre1"), None));
    }
    assert_eq!(gaps(&c, "2026-03-01"), vec![]);
    c.notice.as_mut().expect("n").to = d("2026-02-09");
    assert_eq!(gaps(&c, "2026-03-01"), [CaseGap::NoticeTooShort { days: 4, required: 7, step: None }]);
    c.notice = None;
    assert_eq!(gaps(&c, "2026-03-01"), [CaseGap::NoticeMissing { step: None }]);
    assert_eq!(CaseGap::NoticeMissing { step: None }.describe(&catalog(), &c.item), "缺少公示记录（公示的起止日期）");
}

#[test]
fn a_notice_steps_period_is_the_notice() {
    let mut c = case();
    c.notice = None;
    c.closed_on = Some(d("2026-03-01"));
    let step = Step { until: Some(d("2026-02-26")), ..Step::new(d("2026-02-20"), account("cadre1"), None) };
    c.steps.insert(code("notice"), step);
    c.steps.insert(code("report_to_township"), Step::new(d("2026-02-27"), account("cadre1"), None));
    assert_eq!(gaps(&c, "2026-03-01"), vec![], "seven days, both ends counted");
    c.steps.get_mut(&code("notice")).expect("s").until = Some(d("2026-02-22"));
    let g = gaps(&c, "2026-03-01");
    assert_eq!(g, [CaseGap::NoticeTooShort { days: 3, required: 7, step: Some(code("notice")) }]);
    assert_eq!(g[0].describe(&catalog(), &c.item), "「公示」只公示了 3 天，应不少于 7 天");
    // Done without its period: the township cannot tell how long it ran.
    c.steps.get_mut(&code("notice")).expect("s").until = None;
    assert_eq!(gaps(&c, "2026-03-01"), [CaseGap::NoticeMissing { step: None }]);
    // Of 四议两公开's two notices, one with its days and one without: the one without is named.
    let mut m = Case::new(code("major_decision"), line("修建村道"), d("2026-02-01"));
    m.steps.insert(
        code("resolution_notice"),
        Step { until: Some(d("2026-02-13")), ..Step::new(d("2026-02-07"), account("cadre1"), None) },
    );
    m.steps.insert(code("result_notice"), Step::new(d("2026-03-01"), account("cadre1"), None));
    let g: Vec<CaseGap> =
        gaps(&m, "2026-03-02").into_iter().filter(|g| matches!(g, CaseGap::NoticeMissing { .. })).collect();
    assert_eq!(g, [CaseGap::NoticeMissing { step: Some(code("result_notice")) }]);
    assert_eq!(g[0].describe(&catalog(), &m.item), "「实施结果公开」未记公示的起止日期");
    // A monthly notice (财务公开) is the month's accounts: its step done is the notice.
    let mut e = Case::new(code("expense_approval"), line("购买办公用品"), d("2026-03-01"));
    for s in ["application", "supervisor_review", "approval", "finance_notice"] {
        e.steps.insert(code(s), Step::new(d("2026-03-02"), account("cadre1"), None));
    }
    e.closed_on = Some(d("2026-03-31"));
    assert_eq!(gaps(&e, "2026-04-01"), vec![]);
}

#[test]
fn the_assembly_a_step_was_taken_at_must_be_recorded_valid_and_quorate() {
    let mut doc = village();
    let mut c = Case::new(code("major_decision"), line("修建村道"), d("2026-03-01"));
    c.steps.insert(code("proposal"), Step::new(d("2026-03-02"), account("cadre1"), None));
    c.steps.insert(code("consultation"), Step::new(d("2026-03-05"), account("cadre1"), None));
    let review = code("assembly_review");
    let at = |c: &Case, doc: &VillageYear| case_gaps(c, doc, &catalog(), d("2026-03-20"));
    // Taken on 10 March, the day of the sample's assembly, which only eight of eleven attended.
    c.steps.insert(review.clone(), Step::new(d("2026-03-10"), account("cadre1"), None));
    assert_eq!(at(&c, &doc), [], "the assembly held that day, with its quorum");
    // No assembly that day.
    c.steps.get_mut(&review).expect("s").done_on = d("2026-03-11");
    let g = at(&c, &doc);
    let not_recorded = CaseGap::StepMeeting {
        step: review.clone(),
        kind: MeetingKind::BranchAssembly,
        problem: StepMeetingProblem::NotRecorded,
        meeting: None,
    };
    assert_eq!(g, [not_recorded]);
    assert_eq!(g[0].describe(&catalog(), &c.item), "「党员大会审议」当天没有支部党员大会的会议记录");
    // Named: the assembly of the 10th, whatever the step's day; then short of its quorum.
    c.steps.get_mut(&review).expect("s").meeting = Some(rid(1));
    assert_eq!(at(&c, &doc), []);
    let m = Arc::make_mut(doc.meetings.get_mut(&rid(1)).expect("m"));
    for a in m.attendance.values_mut().skip(3) {
        a.status = AttendanceStatus::Absent;
    }
    let g = at(&c, &doc);
    assert_eq!(g[0].describe(&catalog(), &c.item), "「党员大会审议」所在的支部党员大会未达到法定人数");
    // The voided theme day of the sample is named: voided, and of another kind.
    c.steps.get_mut(&review).expect("s").meeting = Some(rid(2));
    assert_eq!(at(&c, &doc)[0].describe(&catalog(), &c.item), "「党员大会审议」关联的支部党员大会会议记录已作废");
    c.steps.get_mut(&review).expect("s").meeting = Some(rid(99));
    assert_eq!(at(&c, &doc)[0].describe(&catalog(), &c.item), "「党员大会审议」关联的支部党员大会会议记录找不到");
    // Taken next January, at an assembly this year's records cannot hold: not held against it.
    let step = c.steps.get_mut(&review).expect("s");
    (step.done_on, step.meeting) = (d("2027-01-05"), None);
    assert_eq!(at(&c, &doc), []);
}

#[test]
fn items_without_a_notice_need_none() {
    let mut c = Case::new(code("certificate"), line("出具居住证明"), d("2026-03-01"));
    for s in ["application", "verification", "issue"] {
        c.steps.insert(code(s), Step::new(d("2026-03-01"), account("cadre1"), None));
    }
    c.closed_on = Some(d("2026-03-01"));
    assert_eq!(gaps(&c, "2026-12-31"), vec![]);
}

#[test]
fn a_case_open_past_the_deadline_is_overdue_and_voided_cases_have_no_gaps() {
    let mut c = case();
    let g = gaps(&c, "2026-06-01");
    assert_eq!(g, [CaseGap::Overdue { days_open: 120, deadline: 90 }]);
    assert_eq!(g[0].describe(&catalog(), &c.item), "已办理 120 天仍未办结（期限 90 天）");
    // Closed at last, or closed with a day back before the deadline typed after it: the days
    // it took are what count, not the day it is read.
    for s in ["notice", "report_to_township"] {
        c.steps.insert(code(s), Step::new(d("2026-05-20"), account("cadre1"), None));
    }
    c.closed_on = Some(d("2026-05-25"));
    let g = gaps(&c, "2026-06-01");
    assert_eq!(g, [CaseGap::ClosedLate { days_open: 113, deadline: 90 }]);
    assert_eq!(g[0].describe(&catalog(), &c.item), "办理 113 天才办结，超过期限（90 天）");
    c.closed_on = Some(d("2026-04-01"));
    assert_eq!(gaps(&c, "2026-06-01"), vec![], "closed within its 90 days");
    c.voided = Some(Voided { reason: prose("申请人撤回"), by: account("cadre1") });
    assert_eq!(gaps(&c, "2026-06-01"), vec![]);
}

#[test]
fn a_missing_notice_step_is_said_once() {
    // 四议两公开 closed with neither notice done: two missing steps, not a third gap for the
    // notice they are.
    let mut m = Case::new(code("major_decision"), line("修建村道"), d("2026-02-01"));
    for (s, day) in [("proposal", "2026-02-02"), ("consultation", "2026-02-03"), ("assembly_review", "2026-02-05")] {
        m.steps.insert(code(s), Step::new(d(day), account("cadre1"), None));
    }
    m.steps.insert(code("villager_resolution"), Step::new(d("2026-02-06"), account("cadre1"), None));
    m.closed_on = Some(d("2026-02-10"));
    let g: Vec<CaseGap> =
        gaps(&m, "2026-02-10").into_iter().filter(|g| !matches!(g, CaseGap::StepMeeting { .. })).collect();
    assert_eq!(
        g,
        [
            CaseGap::MissingStep { step: code("resolution_notice") },
            CaseGap::MissingStep { step: code("result_notice") }
        ]
    );
}

#[test]
fn totals_alone_are_the_totals_of_the_full_scores() {
    let mut doc = village();
    let c = catalog();
    doc.points.insert(
        rid(12),
        PointEntry {
            member_id: mid("v1-m08"),
            rule: code("volunteer"),
            delta: PointDelta::new(4).expect("delta"),
            on: d("2026-06-01"),
            note: None,
            by: account("cadre1"),
            voided: None,
        }
        .into(),
    );
    let expected: Vec<_> = all_scores(&doc, &c).into_iter().map(|s| (s.member_id, s.total, s.grade)).collect();
    let got: Vec<_> = all_totals(&doc, &c).into_iter().map(|t| (t.member_id, t.total, t.grade)).collect();
    assert_eq!(got, expected);
    assert!(expected.iter().any(|(_, total, _)| *total != c.base_score), "the sample moves some scores");
}

#[test]
fn a_branch_without_a_committee_owes_no_committee_meetings_nor_a_disbanded_group_group_meetings() {
    let mut doc = village();
    let with_committee = summary(&doc, Period::Year, "2026-12-31");
    assert_eq!(kind(&with_committee, MeetingKind::BranchCommittee).required, 12);
    // A roster that marks nobody on the committee of a branch of eleven full members: the
    // committee's meetings are owed all the same (a forgotten mark must not make them vanish).
    for m in doc.members.values_mut() {
        m.committee = false;
    }
    let s = summary(&doc, Period::Year, "2026-12-31");
    assert_eq!(kind(&s, MeetingKind::BranchCommittee).required, 12, "eleven full members elect a committee");
    // A committee meeting held then cannot have its quorum counted: it counts, not a failure.
    let mut held = doc.clone();
    let committee = Meeting::new(MeetingKind::BranchCommittee, d("2026-01-20"), line("研究工作"));
    assert_eq!(quorum(&held, &committee, Quorum::MajorityOfCommittee), None);
    held.meetings.insert(rid(30), committee.into());
    let january = summary(&held, Period::Month(1), "2026-12-31");
    let c = kind(&january, MeetingKind::BranchCommittee);
    assert_eq!((c.held, c.valid, c.quorum_failures.len(), c.behind), (1, 1, 0, false));
    // A small branch (fewer than seven full members) elects none (DOMAIN.md): nothing owed.
    let mut small = doc.clone();
    let ids: Vec<_> = small.members.keys().cloned().collect();
    for id in &ids[..6] {
        small.members.get_mut(id).expect("m").left_on = Some(d("2025-12-01"));
    }
    let s = summary(&small, Period::Year, "2026-12-31");
    assert!(s.iter().all(|r| r.kind != MeetingKind::BranchCommittee), "no committee, nothing owed: {s:?}");
    assert!(s.iter().any(|r| r.kind == MeetingKind::ThemeDay && r.behind), "what every member owes is still owed");

    // A group whose members all left at the end of June owes its meetings until then.
    let groups: Vec<_> = doc.members.values().filter_map(|m| m.group.clone()).collect();
    let gone = groups.first().expect("the sample has groups").clone();
    for m in doc.members.values_mut().filter(|m| m.group.as_ref() == Some(&gone)) {
        m.left_on = Some(d("2026-07-01"));
    }
    let rows = compliance(&doc, &catalog(), d("2026-12-31"));
    let months: Vec<_> = rows
        .iter()
        .filter(|r| r.kind == MeetingKind::GroupMeeting && r.group.as_deref() == Some(gone.as_str()))
        .map(|r| r.period)
        .collect();
    assert_eq!(months, (1..=6).map(Period::Month).collect::<Vec<_>>());
}
