//! `zhibu roster`: list, add, group, committee, status, leave, carry-over.

use crate::MemberChange;
use crate::zhibu_schema::{Member, MemberId, MemberStatus};
use serde_json::json;

use super::{Ctx, Usage, opt_text, text};
use crate::cli::args::Roster;
use crate::cli::out::pad;

pub fn run(ctx: &Ctx, cmd: Roster) -> anyhow::Result<u8> {
    let year = ctx.year;
    match cmd {
        Roster::List => {
            let records = ctx.phone.records(year)?;
            ctx.out.show(
                || {
                    let mut s = format!("{year} 年党员名册（{} 人）\n", records.members.len());
                    let row = |cells: [&str; 7]| {
                        let widths = [13, 10, 14, 10, 6, 12, 0];
                        let cells: Vec<String> = cells.iter().zip(widths).map(|(c, w)| pad(c, w)).collect();
                        cells.join(" ").trim_end().to_owned() + "\n"
                    };
                    s += &row(["编号", "姓名", "党小组", "身份", "支委", "入党日期", "离开日期"]);
                    for (id, m) in &records.members {
                        let (joined, left) = (m.joined_on.map(|d| d.to_string()), m.left_on.map(|d| d.to_string()));
                        s += &row([
                            id.as_str(),
                            m.name.as_str(),
                            m.group.as_ref().map_or("-", |g| g.as_str()),
                            m.status.label(),
                            if m.committee { "是" } else { "" },
                            joined.as_deref().unwrap_or_default(),
                            left.as_deref().unwrap_or_default(),
                        ]);
                    }
                    s
                },
                &records.members,
            );
            Ok(0)
        }
        Roster::Add { id, name, group, probationary, committee, joined, arrived } => {
            let id = MemberId::parse(&id).map_err(|e| Usage(e.to_string()))?;
            let status = if probationary { MemberStatus::Probationary } else { MemberStatus::Full };
            let mut member = Member::new(text("姓名", &name)?, status);
            member.group = opt_text("党小组", group.as_deref())?;
            member.committee = committee;
            member.joined_on = joined;
            member.arrived_on = arrived;
            ctx.phone.add_member(year, &id, &member)?;
            let records = ctx.phone.records(year)?;
            let namesakes: Vec<&str> = records
                .members
                .iter()
                .filter(|(other, m)| **other != id && m.name == member.name)
                .map(|(other, _)| other.as_str())
                .collect();
            let note = match namesakes[..] {
                [] => String::new(),
                _ => format!("注意：名册里已有同名党员（{}），以后请用编号指明。", namesakes.join("、")),
            };
            let line = format!("已添加党员 {}（{id}）。{note}{}", member.name, ctx.pending_line());
            ctx.out.show(|| line, &json!({"member_id": id, "pending": ctx.phone.pending_edits()}));
            Ok(0)
        }
        Roster::Group { member, group, none: _ } => {
            change(ctx, &member, MemberChange::Group(opt_text("党小组", group.as_deref())?))
        }
        Roster::Committee { member, seat } => change(ctx, &member, MemberChange::Committee(seat)),
        Roster::Status { member, status: MemberStatus::Full, on: Some(day) } => {
            change(ctx, &member, MemberChange::BecameFull(day))
        }
        Roster::Status { on: Some(_), .. } => Err(Usage("转正日期 --on 只用于调整为“正式”".to_owned()).into()),
        Roster::Status { member, status, on: None } => change(ctx, &member, MemberChange::Status(status)),
        Roster::Leave { member, on } => change(ctx, &member, MemberChange::Left(on)),
        Roster::Arrive { member, on } => change(ctx, &member, MemberChange::Arrived(on)),
        Roster::CarryOver => {
            // The township may have imported the year's roster already: fetched first when the
            // server answers, so that two rosters never meet (the phone's would be refused).
            let fetched = match crate::HttpTransport::for_phone(&ctx.phone) {
                // A roster the phone has already is carried over no more, as it says.
                Ok(_) if !ctx.phone.records(year)?.members.is_empty() => false,
                Ok(transport) => {
                    ctx.phone.follow_year(year)?;
                    let mut options = crate::SyncOptions::once();
                    options.retry.retries = 0;
                    let report = ctx.block_on(ctx.phone.sync(&transport, &options, &mut |_| {}));
                    // Fetched only when this year's document itself synced.
                    report.is_ok_and(|r| {
                        r.docs.iter().any(|d| d.key.year == year && matches!(d.outcome, crate::DocOutcome::Synced))
                    })
                }
                Err(_) => false,
            };
            let imported = ctx.phone.records(year)?.members.len();
            if fetched && imported > 0 {
                let line = format!(
                    "服务器上已有乡镇导入的 {year} 年名册（{imported} 人），已取回，无需带入。请用 zhibu --year {year} roster list 核对。"
                );
                ctx.out.show(|| line, &json!({"carried": 0, "on_server": imported}));
                return Ok(0);
            }
            let carried = ctx.phone.carry_over_roster(year)?;
            // Carried before the year begins, later changes of this December stay behind.
            let early = match crate::clock::today() {
                Ok(today) if today < year.first_day() => format!(
                    "现在还是 {} 年：此后本年的名册变动（离开、转正、转入）不会自动带入，届时请在 {year} 年的名册里也改。",
                    i64::from(year) - 1
                ),
                _ => String::new(),
            };
            let unseen = if fetched {
                "服务器上还没有本年度名册。"
            } else {
                "（未能连上服务器核对。）若乡镇之后在服务器上导入本年度名册，同步会因名册重复被拒绝，届时运行 zhibu --year 年份 rebuild 改用乡镇的名册。"
            };
            let line = format!(
                "已从 {} 年带入 {carried} 名党员到 {year} 年的名册（上一年年底前离开的未带入）。{unseen}{early}请用 zhibu roster list 核对。{}",
                i64::from(year) - 1,
                ctx.pending_line()
            );
            ctx.out.show(|| line, &json!({"carried": carried, "pending": ctx.phone.pending_edits()}));
            Ok(0)
        }
    }
}

fn change(ctx: &Ctx, member: &str, change: MemberChange) -> anyhow::Result<u8> {
    let id = ctx.member(member)?;
    let before = ctx.phone.pending_edits();
    ctx.phone.change_member(ctx.year, &id, &change)?;
    // Nothing written when the member already was so.
    let what =
        if ctx.phone.pending_edits() > before { "已修改党员" } else { "没有变化：党员本来就是这样" };
    // A roster carried into next year already (in December) is a copy: it does not follow.
    let next = crate::zhibu_schema::Year::new(i64::from(ctx.year) + 1).ok();
    if let Some(next) = next.filter(|next| ctx.phone.records(*next).is_ok_and(|r| r.members.contains_key(&id))) {
        eprintln!(
            "注意：{next} 年的名册里也有此人（已带入），这一修改不会带过去；需要时请用 zhibu --year {next} roster … 也改一下（本年离开的，在 {next} 年记为 {next}-01-01 离开）。"
        );
    }
    // A leaving day before the year: on this year's roster, the member counts nowhere in it.
    if let MemberChange::Left(on) = &change
        && *on < ctx.year.first_day()
    {
        eprintln!(
            "注意：离开日期 {on} 在 {} 年之前：此人在 {} 年的名册上，但全年都不算本支部党员（不计应到、不评等次）。若写错了年份，请重新记录。",
            ctx.year, ctx.year
        );
    }
    let line = format!("{what} {}。{}", ctx.member_label(ctx.year, &id), ctx.pending_line());
    ctx.out.show(|| line, &json!({"member_id": id, "change": change, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}
