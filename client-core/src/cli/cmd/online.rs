//! The commands that talk to the server: login, logout, sync (once or `--watch`), rebuild, me.

use std::io::{IsTerminal, Write};

use crate::{DocOutcome, HttpTransport, SyncEvent, SyncOptions, SyncReport, WatchOptions, clock};
use serde_json::json;

use super::{Ctx, Usage};
use crate::cli::args::Login;

pub fn login(ctx: &Ctx, args: Login) -> anyhow::Result<u8> {
    let password = match args.password {
        Some(p) => p,
        None => prompt_line("密码：")?,
    };
    if password.is_empty() {
        return Err(Usage("密码不能为空".into()).into());
    }
    if args.set_aside_damaged {
        for (key, aside) in ctx.phone.set_aside_damaged()? {
            eprintln!("{key}的损坏文件已原样移到 {}，这一年的记录将从服务器取回。", aside.display());
        }
    }
    let session = ctx.block_on(crate::login(&ctx.phone, &args.server, &args.user, &password))?;
    let a = &session.account;
    let line = format!(
        "已登录：{}（{}{}），服务器 {}",
        a.display_name.as_deref().unwrap_or(a.id.as_str()),
        a.role.label(),
        a.village_id.as_ref().map(|v| format!("，村 {v}")).unwrap_or_default(),
        session.server
    );
    // A cadre's phone fetches the village's records right away, so the first offline edit
    // already has the roster to work with.
    let mut fetched = None;
    if a.role == crate::Role::Cadre {
        let transport = HttpTransport::for_phone(&ctx.phone)?;
        let report = ctx.block_on(ctx.phone.sync(&transport, &SyncOptions::once(), &mut |_| {}));
        fetched = Some(match &report {
            Ok(r) if r.refusals().next().is_some() => {
                "取回本村记录时服务器拒绝了，请运行 zhibu sync 查看原因。".to_owned()
            }
            Ok(r) => match r.damaged().next() {
                Some(damaged) => damaged.to_string(),
                None => "已取回本村记录，可以离线使用。".to_owned(),
            },
            Err(e) => format!("暂时没能取回本村记录（{e}），联网后运行 zhibu sync。"),
        });
    }
    let json = json!({"account": a, "server": session.server, "fetched": fetched});
    let line = match &fetched {
        Some(f) => format!("{line}\n{f}"),
        None => line,
    };
    ctx.out.show(|| line, &json);
    Ok(0)
}

/// The environment variable's value when it is set, else a password asked for with
/// [`prompt_line`].
fn secret(prompt: &str, env: &str) -> anyhow::Result<String> {
    match std::env::var(env) {
        Ok(value) => Ok(value),
        Err(_) => prompt_line(prompt),
    }
}

/// A password typed after a prompt on standard error: at a terminal without showing it, else
/// the next line of standard input (a script, a test).
fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn password(ctx: &Ctx) -> anyhow::Result<u8> {
    if ctx.phone.session().is_none() {
        return Err(crate::ClientError::NotLoggedIn.into());
    }
    let least = crate::zhibu_schema::MIN_PASSWORD_CHARS;
    let old = secret("原密码：", "ZHIBU_PASSWORD")?;
    let new = secret(&format!("新密码（至少 {least} 位）："), "ZHIBU_NEW_PASSWORD")?;
    // Typed, it is typed twice; given in the environment, once.
    if std::env::var_os("ZHIBU_NEW_PASSWORD").is_none() && prompt_line("再输一遍新密码：")? != new {
        return Err(Usage("两次输入的新密码不一样，密码没有修改".into()).into());
    }
    if new.chars().count() < least {
        return Err(Usage(format!("新密码至少 {least} 位，密码没有修改")).into());
    }
    let session = ctx.block_on(crate::change_password(&ctx.phone, &old, &new))?;
    let line = "密码已修改。用旧密码登录的其他手机和电脑都已退出，这台手机仍保持登录。".to_owned();
    ctx.out.show(|| line, &json!({"account": session.account.id}));
    Ok(0)
}

pub fn logout(ctx: &Ctx) -> anyhow::Result<u8> {
    ctx.block_on(crate::logout(&ctx.phone))?;
    let pending = ctx.phone.pending_edits();
    let mut line = format!("已退出登录。手机上的记录都还在，{}。", ctx.pending_line());
    if pending > 0 || !ctx.phone.damaged_documents().is_empty() {
        line.push_str("换别的账号登录之前，请先用本账号登录把这些修改同步到服务器。");
    }
    ctx.out.show(|| line, &json!({"pending": pending}));
    Ok(0)
}

/// A progress line on stderr: rewritten in place on a terminal, one line per event otherwise.
struct Progress {
    tty: bool,
    open: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress { tty: std::io::stderr().is_terminal(), open: false }
    }

    fn line(&mut self, text: &str, lasting: bool) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{text}");
            if lasting {
                let _ = writeln!(err);
            }
            self.open = !lasting;
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }

    fn event(&mut self, e: &SyncEvent) {
        match e {
            SyncEvent::Started { docs, pending } => {
                self.line(&format!("同步：{docs} 份文档，{pending} 条修改待发送……"), false)
            }
            SyncEvent::SendingFast { changes, bytes, .. } => {
                self.line(&format!("同步：发送 {changes} 条修改（{:.1} KB）……", *bytes as f64 / 1024.0), false)
            }
            SyncEvent::StandardRound { key, round, .. } => self.line(&format!("同步：{key} 第 {round} 轮……"), false),
            SyncEvent::Received { key, changes } => self.line(&format!("同步：收到 {key} 的 {changes} 条修改"), false),
            SyncEvent::Retrying { attempt, wait, error } => self.line(
                &format!("同步：第 {attempt} 次未成功（{error}），{} 秒后重试……", wait.as_secs_f32().ceil()),
                false,
            ),
            SyncEvent::Finished { report } => self.line(&summary(report), true),
            SyncEvent::Offline { error, retry_in } => self.line(
                &format!(
                    "{} 连不上服务器（{error}），{} 秒后再试",
                    clock::human(clock::now()),
                    retry_in.as_secs_f32().ceil()
                ),
                true,
            ),
            SyncEvent::Failed { error } => self.line(&format!("同步失败：{error}"), true),
        }
    }

    fn done(&mut self) {
        if self.open {
            self.line("", true);
        }
    }
}

fn summary(report: &SyncReport) -> String {
    let mut parts = Vec::new();
    for d in &report.docs {
        match &d.outcome {
            DocOutcome::Synced => parts.push(format!("{} 已同步（发出 {}，收到 {}）", d.key, d.sent, d.received)),
            // What was refused and why follows, once, record by record.
            DocOutcome::Refused(_) => parts.push(format!("{} 的修改被服务器拒绝（原因见下）", d.key)),
            DocOutcome::Damaged { .. } => parts.push(format!("{} 的本地文件已损坏，未同步", d.key)),
            DocOutcome::Later { reason } => parts.push(format!("{} 这次没有同步（{reason}），稍后再试", d.key)),
        }
    }
    let done =
        if report.docs.iter().all(|d| d.outcome == DocOutcome::Synced) { "同步完成" } else { "同步结束" };
    format!("{} {done}：{}", clock::human(clock::now()), parts.join("；"))
}

pub fn sync(ctx: &Ctx, retries: u32) -> anyhow::Result<u8> {
    let transport = HttpTransport::for_phone(&ctx.phone)?;
    // `zhibu --year 2027 sync` fetches that year too, though the phone has nothing of it yet:
    // a past year, or next year's roster the township imported in December; no year beyond.
    let this_year = i64::from(clock::this_year()?);
    if ctx.year_given && i64::from(ctx.year) <= this_year + 1 {
        ctx.phone.follow_year(ctx.year)?;
    }
    let mut progress = Progress::new();
    let mut options = SyncOptions::once();
    options.retry.retries = retries;
    let result = ctx.block_on(ctx.phone.sync(&transport, &options, &mut |e| progress.event(&e)));
    progress.done();
    let report = result?;
    let refused: Vec<_> = report.refusals().collect();
    for (key, r) in &refused {
        eprintln!("服务器拒绝了 {key} 的修改（{}）：{}", r.status, r.message);
        for v in &r.violations {
            eprintln!("  - {v}");
        }
    }
    let years: std::collections::BTreeSet<_> = refused.iter().map(|(key, _)| key.year).collect();
    for year in years {
        eprintln!("{}", super::rebuild_hint(Some(year)));
    }
    let damaged: Vec<_> = report.damaged().collect();
    for e in &damaged {
        eprintln!("{e}");
    }
    let line = format!("{}。", ctx.pending_line());
    ctx.out.show(|| line, &json!({"report": report, "pending": ctx.phone.pending_edits()}));
    let later = report.later().count();
    Ok(match (refused.is_empty(), damaged.is_empty()) {
        (false, _) => 4,
        // A damaged file is the store's failure (see `zhibu --help`).
        (true, false) => 7,
        // Not stored this time, as when the line is down: sync again later.
        (true, true) if later > 0 => 5,
        (true, true) => 0,
    })
}

pub fn watch(ctx: &Ctx) -> anyhow::Result<u8> {
    let transport = HttpTransport::for_phone(&ctx.phone)?;
    let json = ctx.out.json;
    let mut progress = Progress::new();
    eprintln!("后台同步已开始：有修改就同步，断网时自动重试。按 Ctrl-C 结束。");
    let result = ctx.block_on(async {
        let mut task = ctx.phone.start_sync_task(transport, WatchOptions::default(), move |e| {
            if json {
                crate::cli::out::line(&serde_json::to_string(&e).expect("events serialize"));
            } else {
                progress.event(&e);
            }
        });
        let ended = tokio::select! {
            _ = tokio::signal::ctrl_c() => None,
            r = task.wait() => Some(r),
        };
        match ended {
            None => task.stop().await,
            Some(r) => r,
        }
    });
    eprintln!();
    result?;
    let line = format!("后台同步已结束。{}。", ctx.pending_line());
    ctx.out.show(|| line, &json!({"pending": ctx.phone.pending_edits()}));
    Ok(0)
}

pub fn rebuild(ctx: &Ctx) -> anyhow::Result<u8> {
    let transport = HttpTransport::for_phone(&ctx.phone)?;
    let report = ctx.block_on(ctx.phone.rebuild(&transport, ctx.year))?;
    ctx.out.show(
        || {
            let mut s = format!(
                "已按服务器上的 {} 重建：保留 {} 条本地修改，舍弃 {} 条。\n",
                report.key,
                report.kept + report.remade,
                report.dropped.len()
            );
            for d in &report.dropped {
                let what = d.message.as_deref().unwrap_or("（无说明的修改）");
                s += &format!("  舍弃：{} {what}\n", clock::human_unix(d.time));
                for v in &d.violations {
                    s += &format!("        {v}\n");
                }
            }
            match &report.saved_as {
                Some(path) if report.was_damaged => {
                    s += &format!(
                        "损坏的本地文件中能读出的修改已按上面的结果找回；文件已原样移到 {}，请勿删除\n",
                        path.display()
                    )
                }
                Some(path) => s += &format!("重建前的手机文档（含舍弃的修改）已另存为 {}\n", path.display()),
                None => {}
            }
            s + "请运行 zhibu sync 把保留的修改发给服务器。"
        },
        &report,
    );
    Ok(0)
}

pub fn me(ctx: &Ctx) -> anyhow::Result<u8> {
    let points = ctx.block_on(crate::fetch_my_points(&ctx.phone, ctx.year))?;
    ctx.out.show(
        || {
            let grade = match (points.grade_name.as_deref(), points.left_on.as_deref()) {
                (Some(g), _) => format!("，等次：{g}"),
                (None, Some(left)) => format!("（{left} 离开本支部，本年度不在本支部评定等次）"),
                (None, None) => String::new(),
            };
            let mut s =
                format!("{}（{}）{} 年积分：{} 分{grade}\n", points.name, points.member_id, points.year, points.total);
            s += &format!("  基础分 {}\n", points.base);
            for e in &points.entries {
                let source = if e.source == "attendance" { "按考勤" } else { "村干部录入" };
                let name = e.rule_name.as_deref().unwrap_or(&e.rule);
                let note = e.note.as_deref().map(|n| format!("（{n}）")).unwrap_or_default();
                s += &format!("  {}  {:+}  {name}  [{source}]{note}\n", e.on, e.delta);
            }
            if points.from_cache {
                let at = points.fetched_at.as_deref().and_then(clock::parse).map(clock::human).unwrap_or_default();
                s += &format!("（连不上服务器，以上是 {at} 获取的数据）\n");
            }
            s
        },
        &points,
    );
    Ok(0)
}
