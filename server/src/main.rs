//! `zhibu-server`: run the township server, or administer it.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use zhibu_server::admin::{self, AdminCommand};
use zhibu_server::{Application, Config};

/// zhibu 乡镇服务器：接收各村手机同步的记录，核对规则，出汇总报表。
#[derive(Debug, Parser)]
#[command(name = "zhibu-server", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// 管理：乡镇、村、账号、名册导入、目录、吊销令牌
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Admin(cmd)) => {
            let state = zhibu_server::state(cli.config).await?;
            admin::run(&state, cmd).await
        }
        None => {
            let app = Application::build(cli.config).await?;
            println!("zhibu 服务器已启动：http://127.0.0.1:{}/  （按 Ctrl-C 停止）", app.port());
            app.run_until_stopped().await
        }
    }
}
