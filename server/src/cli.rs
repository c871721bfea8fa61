//! The command line of `zhibu-server`: run (optionally seeding the demo township), or `admin`.

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser};
use tracing_subscriber::EnvFilter;

use crate::admin::{self, AdminCommand};
use crate::{Application, Config};

/// zhibu 乡镇服务器：接收各村手机同步的记录，核对规则，出汇总报表。
#[derive(Debug, Parser)]
#[command(name = "zhibu-server", version)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// 管理：乡镇、村、账号、名册导入、目录、吊销令牌
    #[command(subcommand)]
    Admin(AdminCommand),
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Admin(cmd)) => {
            // A mistyped path (or a command run from another folder than the server's, with the
            // relative default) would otherwise make a new, empty database and act on it.
            if let Some(path) =
                cli.config.database_url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
                && !matches!(cmd, AdminCommand::CreateTownship { .. })
                && !std::path::Path::new(path).exists()
            {
                anyhow::bail!(
                    "数据库文件 {path} 不存在：请检查 --database-url（或 ZHIBU_DATABASE_URL）和当前所在的文件夹；新的数据库由 create-township 建立"
                );
            }
            let state = crate::admin_state(cli.config).await?;
            let audited = cmd.audited();
            let result = admin::run(&state, cmd).await;
            crate::audit::admin_command(&audited, result.is_ok());
            result
        }
        None => {
            let app = Application::build(cli.config).await?;
            println!("zhibu 服务器已启动：{}", started_line(app.local_addr()?));
            app.run_until_stopped().await
        }
    }
}

/// Where to open the server: its own address, or this machine's when it listens on every
/// address (`0.0.0.0`), which is said too.
fn started_line(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let here = std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port());
        format!("http://{here}/  （监听所有地址 {addr}；按 Ctrl-C 停止）")
    } else {
        format!("http://{addr}/  （按 Ctrl-C 停止）")
    }
}

/// Parses the command line and runs; the exit code is 1 on any error, which is printed.
pub fn main() -> std::process::ExitCode {
    main_from(std::env::args_os())
}

/// [`main`] with the arguments given (the first is the program's name), for a program that
/// embeds the server behind its own first argument (the benchmark).
pub fn main_from<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    zhibu_schema::guard::quiet_caught_panics();
    // clap's own words are English: the township's operator reads the help and the refusals
    // in Chinese, as the cadres do in `zhibu`.
    let matches = match zhibu_schema::cli::localize(Cli::command()).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        // `zhibu-server admin` alone: its commands, as clap shows them.
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return std::process::ExitCode::from(2);
        }
        Err(e) => return usage_refused(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_refused(&e),
    };
    // An admin command's own words are its printed lines: its log says only what the audit
    // keeps (and warnings), not the server's work inside it.
    let default = if cli.command.is_some() { "warn,audit=info" } else { "info,sqlx=warn,tower_http=warn" };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("无法启动：{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误：{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A command line refused: why, in Chinese, and exit code 2 (clap's own).
fn usage_refused(e: &clap::Error) -> std::process::ExitCode {
    eprintln!("错误：{}", zhibu_schema::cli::usage_error(e, None));
    std::process::ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_in_chinese() {
        let mut cmd = zhibu_schema::cli::localize(Cli::command());
        cmd.clone().debug_assert();
        let help = cmd.render_help().to_string();
        assert!(help.contains("用法：") && help.contains("选项") && help.contains("显示本帮助"), "{help}");
        for english in ["Options:", "Print help", "[OPTIONS]", "[env:", "[default:", "Address to"] {
            assert!(!help.contains(english), "{english}: {help}");
        }
        let admin = cmd.find_subcommand_mut("admin").expect("admin");
        let import = admin.find_subcommand_mut("import-roster").expect("import-roster");
        let help = import.render_help().to_string();
        assert!(help.contains("zhibu-server admin import-roster [选项] <村编号> <名册文件>"), "{help}");
        let e = zhibu_schema::cli::localize(Cli::command())
            .try_get_matches_from(["zhibu-server", "--token-days", "0"])
            .expect_err("refused");
        let said = zhibu_schema::cli::usage_error(&e, None);
        assert!(said.starts_with("--token-days <天数>：应为 1 到 3650 天之间的整数"), "{said}");
        assert!(!said.contains("error:"), "{said}");
    }

    #[test]
    fn the_started_line_names_the_address_listened_on() {
        assert_eq!(started_line("127.0.0.1:8080".parse().unwrap()), "http://127.0.0.1:8080/  （按 Ctrl-C 停止）");
        assert_eq!(started_line("10.1.2.3:80".parse().unwrap()), "http://10.1.2.3:80/  （按 Ctrl-C 停止）");
        assert!(
            started_line("0.0.0.0:8080".parse().unwrap())
                .starts_with("http://127.0.0.1:8080/  （监听所有地址 0.0.0.0:8080")
        );
        assert!(started_line("[::]:9000".parse().unwrap()).starts_with("http://127.0.0.1:9000/"));
    }
}
