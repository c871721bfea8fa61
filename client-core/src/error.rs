//! The errors of the phone library, one enum for the whole boundary.
//!
//! Every message is Chinese and says what happened and what to do, because the app shows it to
//! the cadre as it is. [`ClientError::kind`] sorts the errors into what a program needs to
//! decide on (retry later, log in again, fix the input, ...); the `zhibu` program turns the kind
//! into its exit code.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zhibu_schema::{Collection, Violation};

use crate::DocKey;
use crate::store::StoreError;

/// What went wrong, for a program to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The edit was refused on the phone (a rule, an unknown or voided record): fix the input.
    Refused,
    /// The server refused (403, 422 and other 4xx): local edits are kept; see the message.
    ServerRefused,
    /// The server could not be reached or did not answer usefully: edits are kept, try later.
    Offline,
    /// No login on this phone, or the token expired or was revoked: log in again.
    NotLoggedIn,
    /// The local store is locked by another program, damaged, or the disk failed or is full.
    Store,
}

/// An edit that breaks a rule; nothing was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRefusal {
    /// Every rule the edit would newly break.
    pub violations: Vec<Violation>,
}

impl fmt::Display for EditRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("未保存：")?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("；")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// A refusal from the server, as its JSON error body (or the fast path's `Refused`) says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRefusal {
    /// The HTTP status: 403 not allowed, 422 records that break a rule, other 4xx.
    pub status: u16,
    /// The stable error code, e.g. `invalid_records`, `foreign_actor`, `forbidden`.
    pub code: String,
    /// The server's Chinese message.
    pub message: String,
    /// Which record broke which rule (422).
    #[serde(default)]
    pub violations: Vec<Violation>,
}

impl fmt::Display for ServerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "服务器拒绝了同步（{}）：{}", self.status, self.message)
    }
}

/// Every failure of the phone library.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The store directory: locked by another program, a disk error, a full disk, a damaged
    /// file.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A file of the store is readable but its content does not decode.
    #[error("本地数据文件 {} 无法读取（{detail}）。请不要删除该目录，联系乡镇管理员从服务器恢复", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What does not decode.
        detail: String,
    },

    /// One document's files are damaged: that year cannot be read, edited or synced until it is
    /// rebuilt from the server; the other years work as before.
    #[error(
        "{key}的本地记录文件已损坏（{detail}），这一年的记录暂时不能查看、修改或同步，其他年份照常。\
         联网后运行 zhibu --year {} rebuild 从服务器恢复；损坏的文件会原样另存在数据目录里，不会删除",
        .key.year
    )]
    DocDamaged {
        /// The document.
        key: DocKey,
        /// Which file, and what does not decode.
        detail: String,
    },

    /// No account on this phone yet.
    #[error("尚未登录：请先用 zhibu login 登录（需要联网一次）")]
    NotLoggedIn,

    /// The server did not accept the user name and password.
    #[error("登录失败：{0}")]
    LoginFailed(String),

    /// The server no longer accepts the token.
    #[error("{}", session_expired(.0))]
    SessionExpired(String),

    /// The account may not do this (a member account syncing village records, ...).
    #[error("{0}")]
    NotAllowed(String),

    /// An edit broke a rule; nothing was saved.
    #[error("{0}")]
    Refused(EditRefusal),

    /// The record the edit names is not on this phone.
    #[error("手机上找不到{}「{id}」", collection.label())]
    NoSuchRecord {
        /// Where it was looked for.
        collection: Collection,
        /// The id as given.
        id: String,
    },

    /// A short id matches several records.
    #[error("「{id}」对应多条{}，请写完整编号：{}", collection.label(), described.join("、"))]
    Ambiguous {
        /// Where it was looked for.
        collection: Collection,
        /// The short id (or the name) as given.
        id: String,
        /// The full ids it matches.
        candidates: Vec<String>,
        /// The same as a cadre tells them apart: each id, with a member's group.
        described: Vec<String>,
    },

    /// The record was voided; voided records are kept as they are.
    #[error("{}「{id}」已作废，不能再修改", collection.label())]
    Voided {
        /// The record's collection.
        collection: Collection,
        /// The record's id.
        id: String,
    },

    /// Adding a member whose id is already on the roster.
    #[error("党员编号「{0}」已在名册上")]
    MemberExists(String),

    /// Last year's roster cannot be carried over: this year's has members already, or the
    /// phone has no roster of last year. Nothing was written.
    #[error("{0}")]
    RosterCarry(String),

    /// The server refused; the phone's edits are kept.
    #[error("{0}")]
    ServerRefused(ServerRefusal),

    /// Another account logged in while the edits of the account before wait to sync: under
    /// the new account the server would refuse them.
    #[error(
        "手机上还有账号「{account}」未同步的 {pending} 条修改。请先用「{account}」登录并同步，再换账号登录；修改都还在手机上"
    )]
    OtherAccountsEdits {
        /// The account whose edits wait.
        account: String,
        /// How many.
        pending: usize,
    },

    /// A document's files are damaged, and may hold edits of the account whose edits this phone
    /// makes: another account is refused until that account has rebuilt it, since the edits
    /// found again are kept only under their own account.
    #[error(
        "{key}的本地记录文件已损坏，其中可能有账号「{account}」未同步的修改。请先用「{account}」登录，\
         运行 zhibu --year {} rebuild 找回修改并同步，再换账号登录。\
         若「{account}」已无法登录，可在登录时加 --set-aside-damaged：损坏的文件会原样移到一旁，其中未同步的修改不会上传",
        .key.year
    )]
    OtherAccountsDamaged {
        /// The account whose edits may wait.
        account: String,
        /// The damaged document.
        key: DocKey,
    },

    /// The server could not be reached; the phone's edits are kept.
    #[error("无法连接服务器（{0}）。修改已保存在手机上，有信号后再同步即可")]
    Offline(String),

    /// The server could not be reached to log in.
    #[error("无法连接服务器，登录未完成（{0}）。请检查网络和服务器地址，稍后再试")]
    LoginUnreachable(String),

    /// The phone's clock reads a day no record can have; nothing was done.
    #[error("手机时间不对（现在显示 {0}），请先把手机的日期和时间校准，再使用 zhibu")]
    Clock(String),

    /// A fault of this program, not of the input or the store; nothing was saved.
    #[error("程序内部错误（{0}），未保存。请把这条信息告诉管理员")]
    Internal(String),
}

impl ClientError {
    /// What a program should make of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Store(_)
            | ClientError::Damaged { .. }
            | ClientError::DocDamaged { .. }
            | ClientError::Internal(_) => ErrorKind::Store,
            ClientError::NotLoggedIn
            | ClientError::SessionExpired(_)
            | ClientError::LoginFailed(_)
            | ClientError::OtherAccountsEdits { .. }
            | ClientError::OtherAccountsDamaged { .. } => ErrorKind::NotLoggedIn,
            ClientError::NotAllowed(_) | ClientError::ServerRefused(_) => ErrorKind::ServerRefused,
            ClientError::Refused(_)
            | ClientError::NoSuchRecord { .. }
            | ClientError::Ambiguous { .. }
            | ClientError::Voided { .. }
            | ClientError::MemberExists(_)
            | ClientError::RosterCarry(_)
            | ClientError::Clock(_) => ErrorKind::Refused,
            ClientError::Offline(_) | ClientError::LoginUnreachable(_) => ErrorKind::Offline,
        }
    }

    pub(crate) fn damaged(path: impl Into<PathBuf>, detail: impl fmt::Display) -> ClientError {
        ClientError::Damaged { path: path.into(), detail: detail.to_string() }
    }
}

/// A login the server no longer accepts, said once: the server's own words only when they add
/// something (an account disabled), not its 未登录或登录已过期 again.
fn session_expired(server: &str) -> String {
    let said = server.contains("过期") || server.contains("未登录") || server.trim().is_empty();
    let why = if said { String::new() } else { format!("（{server}）") };
    format!("登录已过期或已退出{why}，请重新登录。手机上的修改都还在")
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhibu_schema::Rule;

    #[test]
    fn client_error_crosses_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<ClientError>();
    }

    #[test]
    fn a_refusal_lists_every_broken_rule_in_chinese() {
        let v = |m: &str| Violation::new(Collection::Points, "r1", "delta", Rule::DeltaOutOfRange, m);
        let e = ClientError::Refused(EditRefusal { violations: vec![v("分值太大"), v("分值太小")] });
        assert_eq!(e.to_string(), "未保存：积分记录 r1（分值）：分值太大；积分记录 r1（分值）：分值太小");
        assert_eq!(e.kind(), ErrorKind::Refused);
    }
}
