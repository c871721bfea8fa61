//! Chinese for clap's own parts, shared by the two programs people run (`zhibu` for cadres,
//! `zhibu-server` for the township's operator): the help's headings and its help and version
//! flags, and a refused command line said in Chinese. Behind the `cli` feature: the phone's
//! library and the server's program turn it on, the domain itself never needs clap.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};

const TEMPLATE: &str = "{about-with-newline}\n用法：{usage}\n\n{all-args}{after-help}";

/// Chinese headings and help texts for clap's own parts, on the program and every subcommand,
/// with `-V, --version` on the program.
pub fn localize(cmd: Command) -> Command {
    let mut cmd = localize_each(cmd).disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help("显示版本")
            .help_heading("选项")
            .display_order(usize::MAX),
    );
    cmd.build();
    usages(&mut cmd);
    cmd
}

/// Each command's usage line with clap's English placeholders in Chinese (`[OPTIONS]`), once the
/// command is built and every subcommand knows its full name.
fn usages(cmd: &mut Command) {
    if cmd.get_overridden_usage().is_none() {
        let usage = cmd.render_usage().to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim().replace("[OPTIONS]", "[选项]");
        *cmd = std::mem::take(cmd).override_usage(usage);
    }
    for sub in cmd.get_subcommands_mut() {
        usages(sub);
    }
}

fn localize_each(cmd: Command) -> Command {
    let ids: Vec<(String, bool)> = cmd.get_arguments().map(|a| (a.get_id().to_string(), a.is_positional())).collect();
    let mut cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .help_template(TEMPLATE)
        .subcommand_help_heading("命令")
        .subcommand_value_name("命令")
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示本帮助")
                .help_heading("选项")
                .display_order(usize::MAX - 1),
        );
    if let Some(about) = cmd.get_about().map(|a| joined(&a.to_string())) {
        cmd = cmd.about(about);
    }
    if let Some(about) = cmd.get_long_about().map(|a| joined(&a.to_string())) {
        cmd = cmd.long_about(about);
    }
    // Under a heading of their own, clap would sort the arguments by name: they keep the order
    // they are declared in (the usage line's), help last.
    for (order, (id, positional)) in ids.into_iter().enumerate() {
        cmd = cmd.mut_arg(id, |a| {
            let mut a = a.display_order(order);
            // The options every command takes (the program's), apart from the command's own.
            if a.is_global_set() {
                a = a.help_heading("通用选项");
            }
            if let Some(help) = a.get_help().map(|h| joined(&h.to_string())) {
                a = a.help(help);
            }
            if let Some(help) = a.get_long_help().map(|h| joined(&h.to_string())) {
                a = a.long_help(help);
            }
            if a.get_help_heading().is_some() {
                a
            } else {
                a.help_heading(if positional { "参数" } else { "选项" })
            }
        });
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, localize_each);
    }
    cmd
}

/// A help text written over several doc-comment lines, which clap joins with a space: no space
/// is left between two Chinese characters or marks (`）。 原密码` reads `）。原密码`).
fn joined(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        let between = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| !c.is_ascii());
        if *c == ' ' && between(i.checked_sub(1)) && between(Some(i + 1)) {
            continue;
        }
        out.push(*c);
    }
    out
}

/// One piece of what clap says about a refused command line, as text.
pub fn context(e: &clap::Error, kind: ContextKind) -> String {
    match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join("、"),
        Some(ContextValue::StyledStr(s)) => s.to_string(),
        Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect::<Vec<_>>().join("、"),
        Some(ContextValue::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// A command line clap refused, said in Chinese: what is wrong (`what`, when the program knows
/// better than clap), a suggestion when clap has one, and the usage of the command concerned.
pub fn usage_error(e: &clap::Error, what: Option<String>) -> String {
    let get = |kind| context(e, kind);
    let (arg, value) = (get(ContextKind::InvalidArg), get(ContextKind::InvalidValue));
    let mut message = what.unwrap_or_else(|| match e.kind() {
        ErrorKind::MissingRequiredArgument => format!("缺少必填的参数：{arg}"),
        // A negative number where a value was wanted reads to clap as an option.
        ErrorKind::UnknownArgument if arg.starts_with('-') && arg[1..].parse::<f64>().is_ok() => {
            format!("「{arg}」：这里不能写负数")
        }
        ErrorKind::UnknownArgument if !arg.starts_with('-') => format!("多写了「{arg}」"),
        ErrorKind::UnknownArgument => format!("没有「{arg}」这个选项"),
        ErrorKind::InvalidSubcommand => format!("没有「{}」这个命令", get(ContextKind::InvalidSubcommand)),
        ErrorKind::InvalidValue if value.is_empty() => format!("{arg} 后面要写上值"),
        ErrorKind::InvalidValue => format!("{arg} 的值「{value}」不对，可写：{}", get(ContextKind::ValidValue)),
        // The programs' own parsers say why in Chinese; clap's number parsers do not.
        ErrorKind::ValueValidation => match std::error::Error::source(e) {
            Some(why) if why.downcast_ref::<std::num::ParseIntError>().is_none() => format!("{arg}：{why}"),
            _ => format!("{arg} 的值「{value}」应为整数"),
        },
        ErrorKind::ArgumentConflict => match get(ContextKind::PriorArg) {
            prior if prior == arg => format!("{arg} 只能写一次"),
            prior => format!("{arg} 不能和 {prior} 同时使用"),
        },
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => "缺少命令".to_owned(),
        ErrorKind::TooManyValues | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("{arg} 的值的个数不对")
        }
        _ => "命令行写得不对".to_owned(),
    });
    for suggested in [ContextKind::SuggestedSubcommand, ContextKind::SuggestedArg, ContextKind::SuggestedValue] {
        let s = get(suggested);
        if !s.is_empty() {
            message += &format!("；是不是要写「{s}」？");
        }
    }
    let usage = get(ContextKind::Usage);
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    if !usage.is_empty() {
        message += &format!("\n用法：{usage}");
    }
    message + "\n在命令后加 --help 可看详细说明"
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_of_chinese_join_without_a_space() {
        assert_eq!(super::joined("都会退出）。 原密码和新密码"), "都会退出）。原密码和新密码");
        assert_eq!(super::joined("用 zhibu conflicts 查看 CSV 文件"), "用 zhibu conflicts 查看 CSV 文件");
    }
}
