//! Server configuration: flags, each also an environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How the server runs.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// 监听的地址和端口（默认 127.0.0.1:8080，只有本机能连；各村手机要连，写 0.0.0.0:8080 或本机的局域网地址；环境变量 ZHIBU_LISTEN）
    #[arg(
        long,
        env = "ZHIBU_LISTEN",
        hide_env = true,
        default_value = "127.0.0.1:8080",
        hide_default_value = true,
        value_name = "地址",
        value_parser = address
    )]
    pub listen: SocketAddr,
    /// 数据库：sqlite://文件路径 或 postgres://…（默认 sqlite://zhibu-data/zhibu.db，即当前文件夹下 zhibu-data 中的 SQLite 文件；环境变量 ZHIBU_DATABASE_URL）
    #[arg(
        long,
        global = true,
        env = "ZHIBU_DATABASE_URL",
        hide_env = true,
        default_value = "sqlite://zhibu-data/zhibu.db",
        hide_default_value = true,
        value_name = "URL"
    )]
    pub database_url: String,
    /// 目录文件（TOML 或 JSON），代替内置的默认目录。服务器记下启动时用的目录，不带此选项的管理命令沿用它（环境变量 ZHIBU_CATALOG）
    #[arg(long, global = true, env = "ZHIBU_CATALOG", hide_env = true, value_name = "文件")]
    pub catalog: Option<PathBuf>,
    /// 登录的有效天数，过期后手机要重新登录（默认 30，1 到 3650；环境变量 ZHIBU_TOKEN_DAYS）
    #[arg(
        long,
        env = "ZHIBU_TOKEN_DAYS",
        hide_env = true,
        default_value_t = 30,
        hide_default_value = true,
        value_name = "天数",
        value_parser = within::<u32>(1, 3650, "天")
    )]
    pub token_days: u32,
    /// 一次请求最多收多少字节（默认 8388608，即 8 MiB；环境变量 ZHIBU_MAX_BODY_BYTES）
    #[arg(
        long,
        env = "ZHIBU_MAX_BODY_BYTES",
        hide_env = true,
        default_value_t = 8 * 1024 * 1024,
        hide_default_value = true,
        value_name = "字节数",
        value_parser = within::<usize>(64 * 1024, 1 << 30, "字节")
    )]
    pub max_body_bytes: usize,
    /// 一次请求最多处理多少秒，超时即中断（默认 30；环境变量 ZHIBU_REQUEST_TIMEOUT_SECS）
    #[arg(
        long,
        env = "ZHIBU_REQUEST_TIMEOUT_SECS",
        hide_env = true,
        default_value_t = 30,
        hide_default_value = true,
        value_name = "秒数",
        value_parser = within::<u64>(1, 3600, "秒")
    )]
    pub request_timeout_secs: u64,
    /// 内存中保留多少份村年度记录（每份约 1.5 MiB）。不在内存中的记录每次同步都要重新读取，开销加倍（docs/PERFORMANCE.md）：天天同步的村最好都留在内存里（默认 256；环境变量 ZHIBU_CACHED_DOCUMENTS）
    #[arg(
        long,
        env = "ZHIBU_CACHED_DOCUMENTS",
        hide_env = true,
        default_value_t = 256,
        hide_default_value = true,
        value_name = "份数"
    )]
    pub cached_documents: usize,
    /// 服务器前面的反向代理（地址，用英文逗号分隔）。来自它们的请求，登录限制和审计日志按 X-Forwarded-For 中的客户端地址计；其他来源的这个请求头一概不认（环境变量 ZHIBU_TRUSTED_PROXIES）
    #[arg(
        long,
        env = "ZHIBU_TRUSTED_PROXIES",
        hide_env = true,
        value_delimiter = ',',
        value_name = "地址",
        value_parser = ip_address
    )]
    pub trusted_proxies: Vec<IpAddr>,
    /// 建立演示乡镇（已有则不再建）并列出它的账号；只用于试用，不可与真实乡镇共用数据库
    #[arg(long)]
    pub demo: bool,
}

/// A whole number from `min` to `max` (in `unit`): a setting of 0 would start a server that
/// refuses every login or request.
fn within<T>(min: T, max: T, unit: &'static str) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("应为 {min} 到 {max} {unit}之间的整数，不是「{s}」")),
    }
}

/// An address to listen on, said in Chinese when it is not one (the standard library's message
/// is English).
fn address(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| format!("「{s}」不是地址和端口，请写成 127.0.0.1:8080 或 0.0.0.0:8080 这样"))
}

/// A proxy's IP address, said in Chinese when it is not one.
fn ip_address(s: &str) -> Result<IpAddr, String> {
    s.trim().parse().map_err(|_| format!("「{s}」不是 IP 地址，请写成 10.0.0.1 这样，多个用英文逗号分隔"))
}

impl Config {
    /// Defaults for tests and embedding: port 0 on loopback, the given database.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            catalog: None,
            token_days: 30,
            max_body_bytes: 8 * 1024 * 1024,
            request_timeout_secs: 30,
            cached_documents: 64,
            trusted_proxies: Vec::new(),
            demo: false,
        }
    }
}
