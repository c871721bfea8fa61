//! `zhibu case open|step|notice|close|void|list`.

use std::sync::Arc;

use serde_json::json;

use crate::NewCase;
use crate::zhibu_schema::{Case, Code, Collection, Notice, RecordId, StepDef};

use super::{Ctx, Usage, code_or_name, opt_text, or_today, text, today};
use crate::cli::args::CaseCmd;
use crate::cli::out::short;

pub fn run(ctx: &Ctx, cmd: CaseCmd) -> anyhow::Result<u8> {
    let find = |case: &str| ctx.phone.find_record(Collection::Cases, case);
    let (id, what) = match cmd {
        CaseCmd::List => return list(ctx),
        CaseCmd::Open { item, title, date, applicant } => {
            let catalog = ctx.phone.catalog();
            let case = NewCase {
                item: code_or_name(&item, "事项", catalog.items.iter().map(|i| (&i.code, i.name.as_str())))?,
                title: text("标题", &title)?,
                opened_on: ctx.dated(date)?,
                applicant: opt_text("申请人", applicant.as_deref())?,
            };
            (ctx.phone.open_case(&case)?, "已立项".to_owned())
        }
        CaseCmd::Step { case, step, date, note, meeting } => {
            let id = find(&case)?;
            let case = recorded(ctx, &id)?;
            let steps = item_steps(ctx, case.as_deref());
            let step = step_code(&steps, &step)?;
            let note = opt_text("说明", note.as_deref())?;
            // A step done already is corrected only when told its new day (or meeting): typed
            // again by mistake, it would move to today.
            let done = case.and_then(|c| c.steps.get(&step).map(|s| s.done_on));
            let name = steps.iter().find(|s| s.code == step).map_or_else(|| step.to_string(), |s| s.name.to_string());
            if let (Some(on), None, None) = (done, date, &meeting) {
                let why = format!("步骤「{name}」已于 {on} 办理；要更正日期请加 --date 日期（或 --meeting 会议编号）");
                return Err(Usage(why).into());
            }
            match meeting {
                Some(meeting) => {
                    let meeting = ctx.phone.find_record(Collection::Meetings, &meeting)?;
                    ctx.phone.complete_step_at_meeting(&id, &step, &meeting, note.as_ref())?;
                }
                None => {
                    let done_on = or_today(date)?;
                    super::warn_if_ahead(done_on);
                    ctx.phone.complete_step(&id, &step, done_on, note.as_ref())?;
                }
            }
            if steps.iter().any(|s| s.code == step && s.notice) {
                eprintln!(
                    "提示：这是公示步骤，请用 zhibu case notice {} --step {step} --from 开始日期 --to 结束日期 记下公示期（乡镇按公示天数检查）。",
                    short(&id)
                );
            }
            (id, format!("{}「{name}」", if done.is_some() { "已更正办理步骤" } else { "已记录办理步骤" }))
        }
        CaseCmd::Notice { case, step, from, to, place } => {
            let id = find(&case)?;
            let steps = item_steps(ctx, recorded(ctx, &id)?.as_deref());
            let step = step.map(|step| step_code(&steps, &step)).transpose()?;
            let notice = Notice { from, to, place: opt_text("公示地点", place.as_deref())? };
            let done = ctx.phone.record_notice_at(&id, step.as_ref(), &notice)?;
            let what = match done.and_then(|code| steps.into_iter().find(|s| s.code == code)) {
                Some(def) => format!("已记录公示（步骤「{}」）", def.name),
                None => "已记录公示".to_owned(),
            };
            (id, what)
        }
        CaseCmd::Close { case, outcome, date, correct } => {
            let id = find(&case)?;
            let closed = recorded(ctx, &id)?.and_then(|c| c.closed_on);
            if let (Some(on), false) = (closed, correct) {
                let why = format!("事项 {} 已于 {on} 办结；要更正办结结果或日期，请加 --correct", short(&id));
                return Err(Usage(why).into());
            }
            // A correction of the outcome alone keeps the day it was closed.
            let on = match (date, closed) {
                (None, Some(on)) => on,
                _ => or_today(date)?,
            };
            ctx.phone.close_case(&id, &text("办理结果", &outcome)?, on)?;
            (id, if closed.is_some() { "已更正办结" } else { "已办结" }.to_owned())
        }
        CaseCmd::Void { case, reason } => {
            let id = find(&case)?;
            ctx.phone.void_case(&id, &text("原因", &reason)?)?;
            (id, "已作废".to_owned())
        }
    };
    // What the case still lacks, said where the cadre records it rather than found later by the
    // township.
    let year = ctx.phone.locate(Collection::Cases, &id)?.year;
    let gaps = ctx.phone.case_gaps(year, today()?)?.into_iter().find(|c| c.id == id).map(|c| c.described);
    let still = match gaps.as_deref() {
        Some([]) | None => String::new(),
        Some(gaps) => format!("仍有缺项：{}。", gaps.join("；")),
    };
    let title = ctx.phone.records(year)?.cases.get(&id).map(|c| format!("「{}」", c.title)).unwrap_or_default();
    let line = format!("{what}：事项{title}（{}）。{still}{}", short(&id), ctx.pending_line());
    ctx.out.show(|| line, &json!({"id": id, "gaps": gaps.unwrap_or_default(), "pending": ctx.phone.pending_edits()}));
    Ok(0)
}

/// The steps of the case's item in the catalog (none when the case or its item is unknown).
fn item_steps(ctx: &Ctx, case: Option<&Case>) -> Vec<StepDef> {
    let catalog = ctx.phone.catalog();
    case.and_then(|c| catalog.item(c.item.as_str())).map(|i| i.steps.clone()).unwrap_or_default()
}

/// A step of the case's item, by its code or its name.
fn step_code(steps: &[StepDef], step: &str) -> anyhow::Result<Code> {
    code_or_name(step, "办理步骤", steps.iter().map(|s| (&s.code, s.name.as_str())))
}

/// The case `id` as the phone holds it, in whichever year it was opened.
fn recorded(ctx: &Ctx, id: &RecordId) -> anyhow::Result<Option<Arc<Case>>> {
    let year = ctx.phone.locate(Collection::Cases, id)?.year;
    Ok(ctx.phone.records(year)?.cases.remove(id))
}

fn list(ctx: &Ctx) -> anyhow::Result<u8> {
    let cases = ctx.phone.case_gaps(ctx.year, today()?)?;
    let records = ctx.phone.records(ctx.year)?;
    // A case opened last year and still open goes on in last year's record (its document): in
    // January it is listed too, where the cadre looks for it.
    let last_year = crate::zhibu_schema::Year::new(i64::from(ctx.year) - 1).ok();
    let still_open: Vec<_> = match last_year {
        Some(y) => ctx.phone.case_gaps(y, today()?)?.into_iter().filter(|c| c.closed_on.is_none()).collect(),
        None => Vec::new(),
    };
    ctx.out.show(
        || {
            let mut s = format!("{} 年小微权力事项（{} 件）\n", ctx.year, cases.len());
            let line = |s: &mut String, c: &crate::CaseGaps| {
                let state = c.closed_on.map_or_else(|| "办理中".to_owned(), |d| format!("{d} 办结"));
                *s += &format!("{}  {}  {}「{}」  {state}\n", short(&c.id), c.opened_on, c.item_name, c.title);
                for gap in &c.described {
                    *s += &format!("    ！{gap}\n");
                }
            };
            for c in &cases {
                line(&mut s, c);
            }
            if let (Some(y), false) = (last_year, still_open.is_empty()) {
                s += &format!("{y} 年立项、尚未办结的事项（{} 件，记在 {y} 年的记录里）\n", still_open.len());
                for c in &still_open {
                    line(&mut s, c);
                }
            }
            // Voided cases stay in the record, as voided meetings do in `meeting list`.
            for (id, c) in records.cases.iter().filter(|(_, c)| c.voided.is_some()) {
                let why = c.voided.as_ref().map(|v| v.reason.to_string()).unwrap_or_default();
                s += &format!("{}  {}  「{}」  【已作废：{why}】\n", short(id), c.opened_on, c.title);
            }
            s
        },
        // The JSON stays this year's list, as scripts read it (`--year` gives last year's).
        &cases,
    );
    Ok(0)
}
