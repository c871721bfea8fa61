//! `zhibu meeting record|list|void` and `zhibu attend`.

use crate::zhibu_schema::{Attendance, AttendanceStatus, Collection, Meeting, MeetingKind, MemberId, Period};
use serde_json::json;

use super::{Ctx, Usage, opt_text, or_today, text};
use crate::cli::args::{Attend, MeetingCmd, RecordMeeting};
use crate::cli::out::short;

pub fn run(ctx: &Ctx, cmd: MeetingCmd) -> anyhow::Result<u8> {
    match cmd {
        MeetingCmd::Record(args) => record(ctx, args),
        MeetingCmd::List { period } => {
            let (year, period) = period.unwrap_or((ctx.year, Period::Year));
            let meetings = ctx.phone.meetings(year, period)?;
            ctx.out.show(
                || {
                    let mut s = format!("{year} 年{}的会议（{} 次）\n", period.label(), meetings.len());
                    for (id, m) in &meetings {
                        let count = |st| m.attendance.values().filter(|a| a.status == st).count();
                        s += &format!(
                            "{}  {}  {:<8} {}  出席 {} 请假 {} 缺席 {}{}\n",
                            short(id),
                            m.held_on,
                            m.kind.label(),
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

fn record(ctx: &Ctx, a: RecordMeeting) -> anyhow::Result<u8> {
    let held_on = or_today(a.date)?;
    let year = crate::zhibu_schema::Year::new(i64::from(held_on.year_number()))?;
    let mut m = Meeting::new(a.kind, held_on, text("议题", &a.topic)?);
    m.place = opt_text("地点", a.place.as_deref())?;
    m.host = opt_text("主持人", a.host.as_deref())?;
    m.recorder = opt_text("记录人", a.recorder.as_deref())?;
    m.group = opt_text("党小组", a.group.as_deref())?;
    m.resolutions = opt_text("决议", a.resolutions.as_deref())?;
    let find = |who: &str| -> anyhow::Result<MemberId> { Ok(ctx.phone.find_member(year, who)?) };
    if a.all_present {
        let records = ctx.phone.records(year)?;
        for (id, member) in &records.members {
            let due = member.active_on(held_on)
                && match a.kind {
                    MeetingKind::BranchCommittee => member.committee,
                    MeetingKind::GroupMeeting => member.group.is_some() && member.group == m.group,
                    _ => true,
                };
            if due {
                m.attendance.insert(id.clone(), Attendance::present());
            }
        }
    }
    for who in a.present.iter().filter(|w| !w.is_empty()) {
        m.attendance.insert(find(who)?, Attendance::present());
    }
    for who in a.absent.iter().filter(|w| !w.is_empty()) {
        m.attendance.insert(find(who)?, Attendance::absent());
    }
    for spec in &a.leave {
        let mut parts = spec.splitn(3, [':', '：']);
        let who = parts.next().unwrap_or_default();
        let reason = parts.next().ok_or_else(|| Usage(format!("请假「{spec}」应写成 党员:事由[:批准人]")))?;
        let leave = Attendance::leave(text("请假事由", reason)?, opt_text("批准人", parts.next())?);
        m.attendance.insert(find(who)?, leave);
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
    ctx.out.show(|| line, &json!({"id": id, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}

pub fn attend(ctx: &Ctx, a: Attend) -> anyhow::Result<u8> {
    let meeting = ctx.phone.find_record(Collection::Meetings, &a.meeting)?;
    let year = ctx.phone.locate(Collection::Meetings, &meeting)?.year;
    let member = ctx.phone.find_member(year, &a.member)?;
    let what = match (a.status, a.makeup) {
        (None, None) => return Err(Usage("请写明考勤（出席、请假、缺席）或补课日期（--makeup）".into()).into()),
        (None, Some(day)) => {
            ctx.phone.record_makeup(&meeting, &member, day)?;
            format!("补课 {day}")
        }
        (Some(status), makeup) => {
            let attendance = Attendance {
                status,
                reason: opt_text("请假事由", a.reason.as_deref())?,
                approved_by: opt_text("批准人", a.approver.as_deref())?,
                makeup_on: makeup,
            };
            ctx.phone.set_attendance(&meeting, &member, &attendance)?;
            status.label().to_owned()
        }
    };
    let line = format!("已修改考勤：会议 {} 党员 {member} {what}。{}", short(&meeting), ctx.pending_line());
    ctx.out.show(|| line, &json!({"meeting": meeting, "member_id": member, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}
