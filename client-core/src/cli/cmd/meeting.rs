//! `zhibu meeting record|list|edit|void` and `zhibu attend`.

use crate::zhibu_schema::{
    Attendance, AttendanceStatus, Collection, Meeting, MeetingKind, MemberId, Period, unmarked_members,
};
use serde_json::json;

use super::{Ctx, Usage, opt_text, text};
use crate::MeetingEdit;
use crate::cli::args::{Attend, EditMeeting, MeetingCmd, MeetingDetails, RecordMeeting};
use crate::cli::out::{pad, short};

pub fn run(ctx: &Ctx, cmd: MeetingCmd) -> anyhow::Result<u8> {
    match cmd {
        MeetingCmd::Record(args) => record(ctx, args),
        MeetingCmd::Edit(args) => edit(ctx, args),
        MeetingCmd::List { period } => {
            let (year, period) = period.unwrap_or((ctx.year, Period::Year));
            let meetings = ctx.phone.meetings(year, period)?;
            ctx.out.show(
                || {
                    let mut s = format!("{year} 年{}的会议（{} 次）\n", period.label(), meetings.len());
                    for (id, m) in &meetings {
                        let count = |st| m.attendance.values().filter(|a| a.status == st).count();
                        s += &format!(
                            "{}  {}  {} {}  出席 {} 请假 {} 缺席 {}{}\n",
                            short(id),
                            m.held_on,
                            pad(m.kind.label(), 12),
                            m.topic,
                            count(AttendanceStatus::Present),
                            count(AttendanceStatus::Leave),
                            count(AttendanceStatus::Absent),
                            m.voided.as_ref().map(|v| format!("  【已作废：{}】", v.reason)).unwrap_or_default(),
                        );
                    }
                    s
                },
                &meetings.iter().map(|(id, m)| json!({"id": id, "meeting": m})).collect::<Vec<_>>(),
            );
            Ok(0)
        }
        MeetingCmd::Void { meeting, reason } => {
            let id = ctx.phone.find_record(Collection::Meetings, &meeting)?;
            ctx.phone.void_meeting(&id, &text("原因", &reason)?)?;
            let line = format!("已作废会议 {}。{}", short(&id), ctx.pending_line());
            ctx.out.show(|| line, &json!({"id": id, "pending": ctx.phone.pending_edits()}));
            Ok(0)
        }
    }
}

/// The place, host, recorder, group and resolutions given on the command line, checked.
fn details(d: &MeetingDetails) -> anyhow::Result<MeetingEdit> {
    Ok(MeetingEdit {
        place: opt_text("地点", d.place.as_deref())?,
        host: opt_text("主持人", d.host.as_deref())?,
        recorder: opt_text("记录人", d.recorder.as_deref())?,
        group: opt_text("党小组", d.group.as_deref())?,
        resolutions: opt_text("决议", d.resolutions.as_deref())?,
        ..MeetingEdit::default()
    })
}

fn edit(ctx: &Ctx, a: EditMeeting) -> anyhow::Result<u8> {
    let id = ctx.phone.find_record(Collection::Meetings, &a.meeting)?;
    if let Some(day) = a.date {
        super::warn_if_ahead(day);
    }
    let edit = MeetingEdit { held_on: a.date, topic: opt_text("议题", a.topic.as_deref())?, ..details(&a.details)? };
    if edit == MeetingEdit::default() {
        return Err(Usage(
            "请写明要更正的项：--date、--topic、--place、--host、--recorder、--group 或 --resolutions".into(),
        )
        .into());
    }
    let changed = ctx.phone.edit_meeting(&id, &edit)?;
    let what = if changed { "已更正会议" } else { "没有变化：会议本来就是这样" };
    let note = match edit.held_on {
        Some(_) if changed => "改了日期：这次会议若已同步过，乡镇会看到「同步后改动」。",
        _ => "",
    };
    let line = format!("{what} {}。{note}{}", short(&id), ctx.pending_line());
    ctx.out.show(|| line, &json!({"id": id, "changed": changed, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}

/// Says so when a member marked absent or on leave is not on the committee (at a committee
/// meeting) or in the meeting's group, as the roster stands now: most likely a slip, though
/// the roster keeps no history of seats and groups, so it is recorded (and counts) as written.
fn warn_not_due<'a>(
    records: &crate::zhibu_schema::VillageYear,
    meeting: &Meeting,
    catalog: &crate::zhibu_schema::Catalog,
    marks: impl Iterator<Item = (&'a MemberId, &'a Attendance)>,
) {
    use crate::zhibu_schema::derive::compliance::{due_at, due_of};
    let due = due_of(meeting.kind, catalog);
    for (id, a) in marks.filter(|(_, a)| a.status != AttendanceStatus::Present) {
        let Some(member) = records.members.get(id) else { continue };
        if member.active_on(meeting.held_on) && !due_at(member, meeting, due) {
            eprintln!(
                "提示：{}（{id}）按现在的名册不是这次{}的应到党员，记为{}仍会照记照算；若是写错了人，请改正。",
                member.name,
                meeting.kind.label(),
                a.status.label()
            );
        }
    }
}

/// A group meeting names a party group of the roster: without one nobody is due (and the
/// library would refuse it after the attendance was typed), and a mistyped one would owe a
/// group that does not exist its monthly meetings.
fn check_group(
    records: &crate::zhibu_schema::VillageYear,
    kind: MeetingKind,
    group: Option<&crate::zhibu_schema::Name>,
) -> anyhow::Result<()> {
    if kind != MeetingKind::GroupMeeting {
        return Ok(());
    }
    let groups = records.groups();
    let listed = if groups.is_empty() {
        "名册上还没有党小组".to_owned()
    } else {
        format!("名册上的党小组：{}", groups.join("、"))
    };
    match group {
        None => Err(Usage(format!("党小组会须用 --group 写明是哪个党小组（{listed}）")).into()),
        Some(g) if !groups.is_empty() && !groups.contains(&g.as_str()) => {
            Err(Usage(format!("名册上没有党小组「{g}」（{listed}）")).into())
        }
        Some(_) => Ok(()),
    }
}

fn record(ctx: &Ctx, a: RecordMeeting) -> anyhow::Result<u8> {
    let held_on = ctx.dated(a.date)?;
    super::warn_if_ahead(held_on);
    let year = crate::zhibu_schema::Year::new(i64::from(held_on.year_number()))?;
    let mut m = Meeting::new(a.kind, held_on, text("议题", &a.topic)?);
    let MeetingEdit { place, host, recorder, group, resolutions, .. } = details(&a.details)?;
    (m.place, m.host, m.recorder, m.group, m.resolutions) = (place, host, recorder, group, resolutions);
    let records = ctx.phone.records(year)?;
    check_group(&records, a.kind, m.group.as_ref())?;
    // Each member once: the exceptions to --all-present, but not two answers for one person.
    let mut named = std::collections::BTreeSet::new();
    let mut mark = |who: &str, attendance: Attendance| -> anyhow::Result<()> {
        let id = ctx.phone.find_member(year, who)?;
        if !named.insert(id.clone()) {
            return Err(Usage(format!("党员「{who}」写了不止一次：出席、缺席、请假只能写一项")).into());
        }
        m.attendance.insert(id, attendance);
        Ok(())
    };
    for who in names(&a.present) {
        mark(who, Attendance::present())?;
    }
    for who in names(&a.absent) {
        mark(who, Attendance::absent())?;
    }
    for spec in &a.leave {
        let mut parts = spec.splitn(3, [':', '：']);
        let who = parts.next().unwrap_or_default().trim();
        let reason = parts.next().ok_or_else(|| Usage(format!("请假「{spec}」应写成 党员:事由[:批准人]")))?;
        mark(who, Attendance::leave(text("请假事由", reason)?, opt_text("批准人", parts.next())?))?;
    }
    // Who was due and is not written down yet, by the township's catalog: with --all-present
    // they came; without, they are left unmarked, which the township sees (未记考勤).
    // The same meeting typed in twice counts twice: said, not refused (two meetings of a kind
    // on one day happen).
    if let Some((twin, _)) = records
        .live_meetings()
        .find(|(_, other)| other.kind == m.kind && other.held_on == m.held_on && other.group == m.group)
    {
        eprintln!(
            "提示：{} 已记录过一次{}（编号 {}）；若是重复录入，请用 zhibu meeting void {} --reason 重复录入 作废其中一次。",
            m.held_on,
            m.kind.label(),
            short(twin),
            short(twin)
        );
    }
    let catalog = ctx.phone.catalog();
    let unmarked: Vec<MemberId> = unmarked_members(&records, &m, &catalog).into_iter().cloned().collect();
    if a.all_present && unmarked.is_empty() && m.attendance.is_empty() {
        let whom = match (a.kind, &m.group) {
            (MeetingKind::BranchCommittee, _) => "支委".to_owned(),
            (MeetingKind::GroupMeeting, Some(g)) => format!("党小组「{g}」的党员"),
            _ => "党员".to_owned(),
        };
        return Err(Usage(format!(
            "手机上 {year} 年的名册里没有应到的{whom}，--all-present 一个人也没记上。请先同步名册（一月里名册还空着时，可用 zhibu roster carry-over 从上一年带入），或核对名称"
        ))
        .into());
    }
    warn_not_due(&records, &m, &catalog, m.attendance.iter());
    // With --all-present nobody is left out; without, those found above are.
    let (came, left_out) = if a.all_present { (unmarked, Vec::new()) } else { (Vec::new(), unmarked) };
    for id in came {
        m.attendance.insert(id, Attendance::present());
    }
    let unmarked: Vec<String> = left_out
        .iter()
        .map(|id| records.members.get(id).map_or_else(|| id.to_string(), |p| p.name.to_string()))
        .collect();
    if !unmarked.is_empty() {
        eprintln!(
            "注意：应到的 {} 名党员没有记考勤：{}。乡镇汇总会把这次会议标为「未记考勤」；请用 zhibu attend 补记出席、请假或缺席。",
            unmarked.len(),
            unmarked.join("、")
        );
    }
    let id = ctx.phone.record_meeting(&m)?;
    let count = |st| m.attendance.values().filter(|x| x.status == st).count();
    let line = format!(
        "已记录会议：{} {}「{}」，编号 {}。出席 {} 人，请假 {} 人，缺席 {} 人。{}",
        m.kind.label(),
        m.held_on,
        m.topic,
        short(&id),
        count(AttendanceStatus::Present),
        count(AttendanceStatus::Leave),
        count(AttendanceStatus::Absent),
        ctx.pending_line()
    );
    ctx.out.show(|| line, &json!({"id": id, "pending": ctx.phone.pending_edits(), "unmarked": unmarked}));
    Ok(0)
}

pub fn attend(ctx: &Ctx, a: Attend) -> anyhow::Result<u8> {
    let meeting = ctx.phone.find_record(Collection::Meetings, &a.meeting)?;
    let year = ctx.phone.locate(Collection::Meetings, &meeting)?.year;
    let member = ctx.phone.find_member(year, &a.member)?;
    let what = match (a.status, a.makeup) {
        (None, None) => return Err(Usage("请写明考勤（出席、请假、缺席）或补课日期（--makeup）".into()).into()),
        (None, Some(day)) => {
            super::warn_if_ahead(day);
            ctx.phone.record_makeup(&meeting, &member, day)?;
            format!("补课 {day}")
        }
        (Some(status), makeup) => {
            if let Some(day) = makeup {
                super::warn_if_ahead(day);
            }
            // What the cadre did not write again stays as recorded, where it still applies: a
            // leave's reason and approver while on leave, a make-up while the meeting was
            // missed. Changing 缺席 to 请假 must not wipe the make-up recorded last week.
            let records = ctx.phone.records(year)?;
            let before = records.meetings.get(&meeting).and_then(|m| m.attendance.get(&member));
            let leave = status == AttendanceStatus::Leave;
            let missed = status != AttendanceStatus::Present;
            let attendance = Attendance {
                status,
                reason: opt_text("请假事由", a.reason.as_deref())?
                    .or_else(|| before.filter(|_| leave).and_then(|b| b.reason.clone())),
                approved_by: opt_text("批准人", a.approver.as_deref())?
                    .or_else(|| before.filter(|_| leave).and_then(|b| b.approved_by.clone())),
                makeup_on: makeup.or_else(|| before.filter(|_| missed).and_then(|b| b.makeup_on)),
            };
            if let Some(m) = records.meetings.get(&meeting) {
                warn_not_due(&records, m, &ctx.phone.catalog(), [(&member, &attendance)].into_iter());
            }
            ctx.phone.set_attendance(&meeting, &member, &attendance)?;
            status.label().to_owned()
        }
    };
    let topic = ctx.phone.records(year)?.meetings.get(&meeting).map(|m| format!("「{}」", m.topic)).unwrap_or_default();
    let line = format!(
        "已修改考勤：会议{topic}（{}）党员 {} {what}。{}",
        short(&meeting),
        ctx.member_label(year, &member),
        ctx.pending_line()
    );
    ctx.out.show(|| line, &json!({"meeting": meeting, "member_id": member, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}

/// The members a list names: separated by commas (half- or full-width) or 、, as cadres type
/// them.
fn names(lists: &[String]) -> impl Iterator<Item = &str> {
    lists.iter().flat_map(|l| l.split([',', '，', '、'])).map(str::trim).filter(|w| !w.is_empty())
}
