//! The `zhibu` program: the village cadre's phone on the command line, driving `zhibu-client`
//! the way the app does. It lives in the library so that end-to-end tests elsewhere in the
//! workspace can build and run this very program. Chinese output for people, `--json` for scripts, exit codes that say what happened
//! (listed in `zhibu --help`).

mod args;
mod cmd;
mod out;

use std::process::ExitCode;

use crate::{ClientError, ErrorKind, Phone, clock};
use clap::error::{ContextKind, ErrorKind as ClapKind};
use clap::{Command, CommandFactory, FromArgMatches};
use zhibu_schema::cli;

use args::Cli;
use cmd::{Ctx, Usage};
use out::Out;

fn command() -> Command {
    // `zhibu` alone shows what it can do, as a command given without its subcommand does.
    cli::localize(Cli::command().arg_required_else_help(true))
}

/// A command line clap refused, said in Chinese; a negative number of points gets its own
/// advice.
fn usage_error(e: &clap::Error) -> String {
    let arg = cli::context(e, ContextKind::InvalidArg);
    let negative = e.kind() == ClapKind::UnknownArgument && arg.trim_start_matches('-').parse::<f64>().is_ok();
    cli::usage_error(e, negative.then(|| format!("「{arg}」：分值写正数即可；扣分请用 zhibu points deduct")))
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
        // A command given without its subcommand (`zhibu case`): its subcommands.
        Err(e)
            if e.kind() == ClapKind::DisplayHelpOnMissingArgumentOrSubcommand
                && !std::env::args_os().any(|a| a == "--json") =>
        {
            let _ = e.print();
            return ExitCode::from(2);
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
