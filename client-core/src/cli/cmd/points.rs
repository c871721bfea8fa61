//! `zhibu points award|deduct|void`.

use crate::NewPoints;
use crate::zhibu_schema::{Collection, PointDelta};
use serde_json::json;

use super::{Ctx, Usage, code_or_name, opt_text, text};
use crate::cli::args::{Award, PointsCmd};
use crate::cli::out::short;

pub fn run(ctx: &Ctx, cmd: PointsCmd) -> anyhow::Result<u8> {
    match cmd {
        PointsCmd::Award(a) => award(ctx, a, 1),
        PointsCmd::Deduct(a) => award(ctx, a, -1),
        PointsCmd::Void { entry, reason } => {
            let id = ctx.phone.find_record(Collection::Points, &entry)?;
            ctx.phone.void_points(&id, &text("原因", &reason)?)?;
            let line = format!("已作废积分记录 {}。{}", short(&id), ctx.pending_line());
            ctx.out.show(|| line, &json!({"id": id, "pending": ctx.phone.pending_edits()}));
            Ok(0)
        }
    }
}

fn award(ctx: &Ctx, a: Award, sign: i64) -> anyhow::Result<u8> {
    let on = ctx.dated(a.date)?;
    super::warn_if_ahead(on);
    let year = crate::zhibu_schema::Year::new(i64::from(on.year_number()))?;
    let member = ctx.phone.find_member(year, &a.member)?;
    let catalog = ctx.phone.catalog();
    let rule = code_or_name(&a.rule, "积分规则", catalog.point_rules.iter().map(|r| (&r.code, r.name.as_str())))?;
    // A deduction typed as an award, or the other way round: said plainly, not as "-3 is not
    // between 1 and 5" for the 3 the cadre typed.
    if let Some(r) = catalog.rule(rule.as_str()) {
        if sign < 0 && r.min > 0 {
            return Err(Usage(format!("「{}」是加分规则，请用 zhibu points award", r.name)).into());
        }
        if sign > 0 && r.max < 0 {
            return Err(Usage(format!("「{}」是扣分规则，请用 zhibu points deduct（分值写正数）", r.name)).into());
        }
    }
    let delta = PointDelta::new(sign * i64::from(a.points)).map_err(|e| Usage(format!("分值：{e}")))?;
    let points = NewPoints { member_id: member.clone(), rule, delta, on, note: opt_text("说明", a.note.as_deref())? };
    let id = ctx.phone.award_points(&points)?;
    let total = ctx.phone.score(year, &member).map(|s| s.total).ok();
    let rule_name = catalog.rule(points.rule.as_str()).map_or_else(|| points.rule.to_string(), |r| r.name.to_string());
    let line = format!(
        "已{}：党员 {} {:+} 分（{rule_name}），编号 {}。{}{}",
        if sign > 0 { "奖励" } else { "扣分" },
        ctx.member_label(year, &member),
        delta.get(),
        short(&id),
        total.map(|t| format!("现有 {t} 分。")).unwrap_or_default(),
        ctx.pending_line()
    );
    ctx.out.show(|| line, &json!({"id": id, "total": total, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}
