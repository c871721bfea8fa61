//! The `zhibu` program: the village cadre's phone on the command line, driving `zhibu-client`
//! the way the app does. It lives in the library so that end-to-end tests elsewhere in the
//! workspace can build and run this very program. Chinese output for people, `--json` for scripts, exit codes that say what happened
//! (listed in `zhibu --help`).

mod args;
mod cmd;
mod out;

use std::process::ExitCode;

use crate::{ClientError, ErrorKind, Phone, clock};
use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

use args::Cli;
use cmd::{Ctx, Usage};
use out::Out;

const TEMPLATE: &str = "{about-with-newline}\n用法：{usage}\n\n{all-args}{after-help}";

/// Chinese headings and help texts for clap's own parts, on every subcommand.
fn localize(cmd: Command) -> Command {
    let ids: Vec<(String, bool)> = cmd.get_arguments().map(|a| (a.get_id().to_string(), a.is_positional())).collect();
    let mut cmd = cmd
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .help_template(TEMPLATE)
        .subcommand_help_heading("命令")
        .subcommand_value_name("命令")
        .arg(Arg::new("help").short('h').long("help").action(ArgAction::Help).help("显示本帮助").help_heading("选项"));
    for (id, positional) in ids {
        cmd = cmd.mut_arg(id, |a| {
            if a.get_help_heading().is_some() {
                a
            } else {
                a.help_heading(if positional { "参数" } else { "选项" })
            }
        });
    }
    let subs: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, localize);
    }
    cmd
}

fn command() -> Command {
    localize(Cli::command()).disable_version_flag(true).arg(
        Arg::new("version").short('V').long("version").action(ArgAction::Version).help("显示版本").help_heading("选项"),
    )
}

/// A command line clap refused, said in Chinese: what is wrong, a suggestion when clap has one,
/// and the usage of the command concerned.
fn usage_error(e: &clap::Error) -> String {
    let get = |kind| -> String {
        match e.get(kind) {
            Some(ContextValue::String(s)) => s.clone(),
            Some(ContextValue::Strings(v)) => v.join("、"),
            Some(ContextValue::StyledStr(s)) => s.to_string(),
            Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect::<Vec<_>>().join("、"),
            Some(ContextValue::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let (arg, value) = (get(ContextKind::InvalidArg), get(ContextKind::InvalidValue));
    let mut message = match e.kind() {
        ClapKind::MissingRequiredArgument => format!("缺少必填的参数：{arg}"),
        ClapKind::UnknownArgument if arg.trim_start_matches('-').parse::<f64>().is_ok() => {
            format!("「{arg}」：分值写正数即可；扣分请用 zhibu points deduct")
        }
        ClapKind::UnknownArgument => format!("没有「{arg}」这个选项"),
        ClapKind::InvalidSubcommand => format!("没有「{}」这个命令", get(ContextKind::InvalidSubcommand)),
        ClapKind::InvalidValue if value.is_empty() => format!("{arg} 后面要写上值"),
        ClapKind::InvalidValue => format!("{arg} 的值「{value}」不对，可写：{}", get(ContextKind::ValidValue)),
        // Our own parsers say why in Chinese; clap's number parsers do not.
        ClapKind::ValueValidation => match std::error::Error::source(e) {
            Some(why) if why.downcast_ref::<std::num::ParseIntError>().is_none() => why.to_string(),
            _ => format!("{arg} 的值「{value}」应为整数"),
        },
        ClapKind::ArgumentConflict => format!("{arg} 不能和 {} 同时使用", get(ContextKind::PriorArg)),
        ClapKind::MissingSubcommand | ClapKind::DisplayHelpOnMissingArgumentOrSubcommand => "缺少命令".to_owned(),
        ClapKind::TooManyValues | ClapKind::TooFewValues | ClapKind::WrongNumberOfValues => {
            format!("{arg} 的值的个数不对")
        }
        _ => "命令行写得不对".to_owned(),
    };
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

/// The exit code of a failure, as `zhibu --help` lists them.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.downcast_ref::<Usage>().is_some()) {
        return 2;
    }
    match e.chain().find_map(|c| c.downcast_ref::<ClientError>()).map(ClientError::kind) {
        Some(ErrorKind::Refused) => 3,
        Some(ErrorKind::ServerRefused) => 4,
        Some(ErrorKind::Offline) => 5,
        Some(ErrorKind::NotLoggedIn) => 6,
        Some(ErrorKind::Store) | None => 7,
    }
}

/// Runs the `zhibu` program on the process's arguments; the exit code says what happened.
pub fn main() -> ExitCode {
    zhibu_schema::guard::quiet_caught_panics();
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZHIBU_LOG").unwrap_or_else(|_| "off".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ClapKind::DisplayHelp | ClapKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's own messages are English: a cadre who mistyped gets them in Chinese, and a
            // script under --json gets the JSON error body like every other failure.
            let json = std::env::args_os().any(|a| a == "--json");
            Out { json }.error(&anyhow::Error::new(Usage(usage_error(&e))), 2);
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            Out { json: matches.get_flag("json") }.error(&anyhow::Error::new(Usage(usage_error(&e))), 2);
            return ExitCode::from(2);
        }
    };
    let out = Out { json: cli.json };
    match run(cli, out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e, exit_code(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

fn run(cli: Cli, out: Out) -> anyhow::Result<u8> {
    let phone = Phone::open(&cli.dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let year = match cli.year {
        Some(year) => year,
        None => clock::this_year()?,
    };
    let ctx = Ctx { phone, out, year, year_given: cli.year.is_some(), runtime };
    cmd::dispatch(&ctx, cli.command)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_consistent() {
        super::command().debug_assert();
    }
}
