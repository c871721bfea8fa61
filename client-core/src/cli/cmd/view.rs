//! The offline views: status, score, compliance, conflicts, catalog.

use crate::clock;
use crate::zhibu_schema::{MemberScore, NoticeRule, Period, RuleSource};
use serde_json::json;

use super::{Ctx, or_today};
use crate::cli::out::{pad, short};

fn when(rfc3339: Option<&str>) -> String {
    rfc3339.and_then(clock::parse).map_or_else(|| "从未".to_owned(), clock::human)
}

pub fn status(ctx: &Ctx) -> anyhow::Result<u8> {
    let status = ctx.phone.status()?;
    ctx.out.show(
        || {
            let mut s = match &status.account {
                Some(a) => format!(
                    "账号：{}（{}{}），服务器 {}\n",
                    a.display_name.as_deref().unwrap_or(a.id.as_str()),
                    a.role.label(),
                    a.village_id.as_ref().map(|v| format!("，村 {v}")).unwrap_or_default(),
                    status.server.as_deref().unwrap_or("")
                ),
                None => "账号：未登录（请用 zhibu login 登录）\n".to_owned(),
            };
            s += &format!("设备编号：{}\n", status.device);
            s += &match &status.catalog_fetched_at {
                Some(t) => format!("积分规则和事项清单：{} 从服务器获取\n", when(Some(t))),
                None => "积分规则和事项清单：内置默认（登录后从服务器获取）\n".to_owned(),
            };
            s += &format!("待同步的修改：{} 条\n上次同步成功：{}\n", status.pending, when(status.last_sync.as_deref()));
            for d in &status.docs {
                if let Some(detail) = &d.damaged {
                    let damaged = crate::ClientError::DocDamaged { key: d.key.clone(), detail: detail.clone() };
                    s += &format!("  {}：{damaged}\n", d.key);
                    continue;
                }
                s += &format!(
                    "  {}：待同步 {} 条，上次同步 {}{}\n",
                    d.key,
                    d.pending,
                    when(d.last_sync.as_deref()),
                    if d.conflicts > 0 {
                        format!("，{} 处冲突（zhibu conflicts）", d.conflicts)
                    } else {
                        String::new()
                    }
                );
                if let Some(r) = &d.refusal {
                    s += &format!(
                        "    服务器于 {} 拒绝（{}）：{}\n",
                        when(d.refused_at.as_deref()),
                        r.status,
                        r.message
                    );
                    for v in &r.violations {
                        s += &format!("      - {v}\n");
                    }
                    s += &format!("    {}\n", super::rebuild_hint(Some(d.key.year)));
                }
            }
            s
        },
        &status,
    );
    Ok(0)
}

pub fn score(ctx: &Ctx, member: Option<&str>) -> anyhow::Result<u8> {
    let catalog = ctx.phone.catalog();
    let rule_name = |code: &str| catalog.rule(code).map_or_else(|| code.to_owned(), |r| r.name.to_string());
    let grade = |s: &MemberScore| match (s.grade, s.left_on) {
        (Some(g), _) => g.label().to_owned(),
        (None, Some(left)) => format!("{left} 离开本支部，不评等次"),
        (None, None) => "不评等次".to_owned(),
    };
    match member {
        None => {
            let scores = ctx.phone.scores(ctx.year)?;
            ctx.out.show(
                || {
                    let mut s = format!("{} 年党员积分\n", ctx.year);
                    for m in &scores {
                        s += &format!("{}  {}  {} 分  {}\n", m.member_id, m.name, m.total, grade(m));
                    }
                    s
                },
                &scores,
            );
        }
        Some(who) => {
            let score = ctx.phone.score(ctx.year, &ctx.member(who)?)?;
            ctx.out.show(
                || {
                    let mut s = format!(
                        "{}（{}）{} 年积分：{} 分，{}\n  基础分 {}\n",
                        score.name,
                        score.member_id,
                        ctx.year,
                        score.total,
                        grade(&score),
                        score.base
                    );
                    for e in &score.entries {
                        let source = if e.source == RuleSource::Attendance { "按考勤" } else { "村干部录入" };
                        let note = e.note.as_deref().map(|n| format!("（{n}）")).unwrap_or_default();
                        s += &format!(
                            "  {}  {:+}  {}  [{source} {}]{note}\n",
                            e.on,
                            e.delta,
                            rule_name(e.rule.as_str()),
                            short(&e.record)
                        );
                    }
                    if !score.leaves.is_empty() {
                        s += &format!("  请假 {} 次（不加减分）\n", score.leaves.len());
                        for l in &score.leaves {
                            s += &format!("  {}  请假  {}（{}）[{}]\n", l.on, l.what, l.described(), short(&l.record));
                        }
                    }
                    s
                },
                &score,
            );
        }
    }
    Ok(0)
}

pub fn compliance(
    ctx: &Ctx,
    period: Option<(crate::zhibu_schema::Year, Period)>,
    as_of: Option<crate::zhibu_schema::Date>,
) -> anyhow::Result<u8> {
    let (year, period) = period.unwrap_or((ctx.year, Period::Year));
    let as_of = or_today(as_of)?;
    let rows = ctx.phone.compliance(year, period, as_of)?;
    ctx.out.show(
        || {
            let mut s = format!("{year} 年{}会议完成情况（截至 {as_of}）\n", period.label());
            let catalog = ctx.phone.catalog();
            for r in &rows {
                let mut group = r.group.as_deref().map(|g| format!("（{g}）")).unwrap_or_default();
                // A kind owed by quarter or year, looked at by month, is counted over that span.
                if let Some(span) = catalog.requirement(r.kind).and_then(|q| q.cadence.span_beyond(period)) {
                    group += &format!("（按{span}计）");
                }
                let state = if r.behind {
                    "未完成"
                } else if r.pending {
                    "进行中"
                } else {
                    "已完成"
                };
                let quorum = if r.quorum_failures.is_empty() {
                    String::new()
                } else {
                    format!("，{} 次未达到法定人数", r.quorum_failures.len())
                };
                // Meetings beyond one period's requirement do not make up for another period.
                let counted =
                    if r.counted < r.valid { format!("（计入 {} 次）", r.counted) } else { String::new() };
                s += &format!(
                    "{}{group}：应开 {} 次，已开 {} 次，有效 {} 次{counted}{quorum}  {state}\n",
                    r.kind.label(),
                    r.required,
                    r.held,
                    r.valid
                );
            }
            s
        },
        &rows,
    );
    Ok(0)
}

pub fn conflicts(ctx: &Ctx) -> anyhow::Result<u8> {
    let conflicts = ctx.phone.conflicts(ctx.year)?;
    let problems = ctx.phone.problems(ctx.year)?;
    ctx.out.show(
        || {
            let mut s = conflicts_text(ctx, &conflicts);
            if !problems.is_empty() {
                s += &format!(
                    "\n另有 {} 处记录不符合规则（多是两部手机离线时的修改合在一起造成的），请改正：\n",
                    problems.len()
                );
                for p in &problems {
                    s += &format!("  {p}\n");
                }
            }
            s.trim_end().to_owned()
        },
        &conflicts,
    );
    Ok(0)
}

fn conflicts_text(ctx: &Ctx, conflicts: &[crate::Conflict]) -> String {
    if conflicts.is_empty() {
        return format!("{} 年的记录没有冲突。", ctx.year);
    }
    let mut s = format!("{} 年有 {} 处冲突（两部手机离线时改成了不同的值）：\n", ctx.year, conflicts.len());
    for c in conflicts {
        let field = if c.field.is_empty() {
            "整条记录".to_owned()
        } else {
            crate::zhibu_schema::violation::field_label(&c.field)
        };
        let record = match c.collection {
            // A member by name too, as the cadre knows them.
            crate::zhibu_schema::Collection::Members => match crate::zhibu_schema::MemberId::parse(&c.record) {
                Ok(id) => ctx.member_label(ctx.year, &id),
                Err(_) => c.record.clone(),
            },
            _ => short(&c.record),
        };
        s += &format!("{} {record}，{field}：\n", c.collection.label());
        for v in &c.values {
            let value = conflict_value(&c.field, &v.value);
            let who = match (&v.account, v.this_device) {
                (Some(a), true) => format!("{a}（本机）"),
                (None, true) => "本机".to_owned(),
                (Some(a), false) => a.clone(),
                (None, false) => format!("设备 {}", &v.actor[..v.actor.len().min(8)]),
            };
            s += &format!(
                "  {value}  —— {who}，{}{}{}\n",
                clock::human_unix(v.time),
                v.message.as_deref().map(|m| format!("「{m}」")).unwrap_or_default(),
                if v.shown { "（当前显示）" } else { "" }
            );
        }
    }
    s + "重新修改该项即可确定采用哪个值。"
}

/// A conflicted value as a cadre reads it: codes by their Chinese names, a map (an
/// attendance entry, a void made on two phones) as its fields, not as JSON.
fn conflict_value(field: &str, value: &serde_json::Value) -> String {
    use crate::zhibu_schema::{AttendanceStatus, MeetingKind, MemberStatus};
    let last = field.rsplit('.').next().unwrap_or(field);
    match value {
        serde_json::Value::String(text) => match last {
            "status" => AttendanceStatus::from_code(text)
                .map(|s| s.label().to_owned())
                .or_else(|| MemberStatus::from_code(text).map(|s| s.label().to_owned()))
                .unwrap_or_else(|| text.clone()),
            "kind" => MeetingKind::from_code(text).map_or_else(|| text.clone(), |k| k.label().to_owned()),
            _ => text.clone(),
        },
        serde_json::Value::Bool(true) => "是".to_owned(),
        serde_json::Value::Bool(false) => "否".to_owned(),
        serde_json::Value::Null => "（空）".to_owned(),
        serde_json::Value::Object(fields) => fields
            .iter()
            .map(|(key, v)| {
                let inner = if field.is_empty() { key.clone() } else { format!("{field}.{key}") };
                let label = crate::zhibu_schema::violation::field_label(&inner);
                let label = label.rsplit(' ').next().unwrap_or(&label).trim_start_matches('的').to_owned();
                format!("{label}：{}", conflict_value(&inner, v))
            })
            .collect::<Vec<_>>()
            .join("，"),
        other => other.to_string(),
    }
}

pub fn catalog(ctx: &Ctx) -> anyhow::Result<u8> {
    let catalog = ctx.phone.catalog();
    ctx.out.show(
        || {
            let mut s = String::from("积分规则（zhibu points award/deduct 用代码）：\n");
            for r in &catalog.point_rules {
                let range = if r.min == r.max { format!("{}", r.min) } else { format!("{} 到 {}", r.min, r.max) };
                s += &format!(
                    "  {} {}  {range} 分  [{}]\n",
                    pad(r.code.as_str(), 16),
                    pad(r.name.as_str(), 30),
                    r.source.label()
                );
            }
            s += "\n小微权力事项（zhibu case open 用代码；步骤用于 zhibu case step）：\n";
            for item in &catalog.items {
                let notice = match item.notice {
                    NoticeRule::None => String::new(),
                    other => format!("，{}", other.label()),
                };
                s += &format!("  {:<22} {}{notice}\n", item.code, item.name);
                let steps: Vec<String> = item.steps.iter().map(|st| format!("{} {}", st.code, st.name)).collect();
                s += &format!("      步骤：{}\n", steps.join(" → "));
            }
            s
        },
        &json!({"catalog": catalog, "fetched_at": ctx.phone.catalog_fetched_at()}),
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::conflict_value;
    use serde_json::json;

    #[test]
    fn conflicting_values_read_as_words_not_codes_or_json() {
        assert_eq!(conflict_value("attendance.v1-m03.status", &json!("present")), "出席");
        assert_eq!(conflict_value("status", &json!("probationary")), "预备党员");
        assert_eq!(conflict_value("committee", &json!(true)), "是");
        assert_eq!(
            conflict_value("voided", &json!({"by": "cadre2", "reason": "记错"})),
            "作废人：cadre2，作废原因：记错"
        );
        assert_eq!(
            conflict_value("attendance.v1-m03", &json!({"reason": "外出", "status": "leave"})),
            "请假事由：外出，出勤情况：请假"
        );
    }
}
