//! `zhibu case open|step|notice|close|void|list`.

use crate::NewCase;
use crate::zhibu_schema::{Collection, Notice};
use serde_json::json;

use super::{Ctx, opt_text, or_today, text, today};
use crate::cli::args::CaseCmd;
use crate::cli::out::short;

pub fn run(ctx: &Ctx, cmd: CaseCmd) -> anyhow::Result<u8> {
    let find = |case: &str| ctx.phone.find_record(Collection::Cases, case);
    let (id, what) = match cmd {
        CaseCmd::List => return list(ctx),
        CaseCmd::Open { item, title, date, applicant } => {
            let case = NewCase {
                item,
                title: text("标题", &title)?,
                opened_on: ctx.dated(date)?,
                applicant: opt_text("申请人", applicant.as_deref())?,
            };
            (ctx.phone.open_case(&case)?, "已立项")
        }
        CaseCmd::Step { case, step, date, note } => {
            let id = find(&case)?;
            ctx.phone.complete_step(&id, &step, or_today(date)?, opt_text("说明", note.as_deref())?.as_ref())?;
            (id, "已记录办理步骤")
        }
        CaseCmd::Notice { case, from, to, place } => {
            let id = find(&case)?;
            ctx.phone.record_notice(&id, &Notice { from, to, place: opt_text("公示地点", place.as_deref())? })?;
            (id, "已记录公示")
        }
        CaseCmd::Close { case, outcome, date } => {
            let id = find(&case)?;
            ctx.phone.close_case(&id, &text("办理结果", &outcome)?, or_today(date)?)?;
            (id, "已办结")
        }
        CaseCmd::Void { case, reason } => {
            let id = find(&case)?;
            ctx.phone.void_case(&id, &text("原因", &reason)?)?;
            (id, "已作废")
        }
    };
    let line = format!("{what}：事项 {}。{}", short(&id), ctx.pending_line());
    ctx.out.show(|| line, &json!({"id": id, "pending": ctx.phone.pending_edits()}));
    Ok(0)
}

fn list(ctx: &Ctx) -> anyhow::Result<u8> {
    let cases = ctx.phone.case_gaps(ctx.year, today()?)?;
    ctx.out.show(
        || {
            let mut s = format!("{} 年小微权力事项（{} 件）\n", ctx.year, cases.len());
            for c in &cases {
                let state = c.closed_on.map_or_else(|| "办理中".to_owned(), |d| format!("{d} 办结"));
                s += &format!("{}  {}  {}「{}」  {state}\n", short(&c.id), c.opened_on, c.item_name, c.title);
                for gap in &c.described {
                    s += &format!("    ！{gap}\n");
                }
            }
            s
        },
        &cases,
    );
    Ok(0)
}
