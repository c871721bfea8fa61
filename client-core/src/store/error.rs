//! The one error type of the local store.
//!
//! Invariant: every failure a cadre can run into on the phone (store busy, disk full, a damaged
//! or too-new file, any other IO failure) has a Chinese message that says what to do; the
//! variants that can only come from a programming mistake (`InvalidName`, `ChunkTooLarge`) are
//! in English, for the developer who reads the log.

use std::io;
use std::path::PathBuf;

/// Every failure of the local store's files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `StoreLock` in this process) holds `DIR/.lock`.
    #[error(
        "本地数据目录 {} 正被另一个 zhibu 程序使用（例如另一个窗口里的 zhibu sync --watch），请先关闭它（按 Ctrl-C）再试",
        dir.display()
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },

    /// The disk is full; nothing was acknowledged, so no accepted record is lost.
    #[error("手机存储空间已满，未能保存（{context}）。请清理空间后再试，已保存的记录不受影响")]
    StorageFull {
        /// What the store was doing.
        context: String,
        /// The OS error.
        source: io::Error,
    },

    /// Any other IO failure.
    #[error("读写本地数据失败（{context}）：{source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The OS error.
        source: io::Error,
    },

    /// A file of the store does not decode. `detail` says which rule it broke.
    #[error(
        "本地数据文件 {} 已损坏（{detail}）。请不要删除该目录，联系乡镇管理员从服务器恢复",
        path.display()
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Which rule of the format it breaks.
        detail: String,
    },

    /// The file was written by a newer zhibu with a format this build does not know.
    #[error("本地数据文件 {} 由更新版本的 zhibu 写入（格式版本 {found}），请升级本程序", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The format version it has.
        found: u32,
    },

    /// A document name that could leave the directory or break a platform (a bug).
    #[error("invalid document name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A chunk too large for one log record (a bug).
    #[error("chunk of {len} bytes is larger than the {max} bytes a log record can hold")]
    ChunkTooLarge {
        /// The chunk's length.
        len: usize,
        /// The largest a record holds.
        max: usize,
    },
}

impl StoreError {
    /// Wraps an IO error with what the store was doing, e.g. `io(e, format!("同步 {path}"))`.
    /// A full disk gets its own variant because the cadre can fix it.
    pub(crate) fn io(source: io::Error, context: impl Into<String>) -> StoreError {
        let context = context.into();
        if source.kind() == io::ErrorKind::StorageFull {
            StoreError::StorageFull { context, source }
        } else {
            StoreError::Io { context, source }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_error_crosses_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<StoreError>();
    }

    #[test]
    fn full_disk_gets_an_actionable_message() {
        let e = StoreError::io(io::Error::from(io::ErrorKind::StorageFull), "追加记录");
        assert!(matches!(e, StoreError::StorageFull { .. }));
        assert!(e.to_string().contains("存储空间已满"), "{e}");
    }

    #[test]
    fn other_io_errors_keep_their_context() {
        let e = StoreError::io(io::Error::from(io::ErrorKind::PermissionDenied), "打开 a.log");
        assert!(matches!(e, StoreError::Io { .. }));
        assert!(e.to_string().contains("打开 a.log"), "{e}");
    }
}
