//! One writer per store directory.
//!
//! Invariant: while a [`StoreLock`] for `DIR` is alive, no other `StoreLock` for `DIR` exists,
//! in this process or any other. Everything else in `store` assumes a single writer (fixed temp
//! file names, the in-memory end of a log), so the layer above takes this lock before opening any
//! [`DocFile`](super::DocFile) in `DIR` and keeps it until it is done.
//!
//! The lock is an OS advisory lock (`flock` on Unix, `LockFileEx` on Windows) on `DIR/.lock`.
//! The OS drops it when the process dies, however it dies, so a crash never leaves the store
//! locked. The file itself is never deleted: deleting it would let two openers lock two
//! different inodes under the same name.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::StoreError;

const LOCK_FILE: &str = ".lock";

/// The lock on a store directory; see the module documentation.
#[derive(Debug)]
pub struct StoreLock {
    dir: PathBuf,
    // Held only for its lock; closing it releases the lock.
    _file: File,
}

impl StoreLock {
    /// Takes the lock on `dir`, creating the directory if it does not exist yet (first start).
    /// Fails at once with [`StoreError::Locked`] if someone else holds it; it never waits.
    pub fn acquire(dir: &Path) -> Result<StoreLock, StoreError> {
        fs::create_dir_all(dir).map_err(|e| StoreError::io(e, format!("创建目录 {}", dir.display())))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(e, format!("打开 {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { dir: dir.to_path_buf(), _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Locked { dir: dir.to_path_buf() }),
            Err(TryLockError::Error(e)) => Err(StoreError::io(e, format!("锁定 {}", path.display()))),
        }
    }

    /// The directory it locks.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_opener_is_refused_while_the_lock_is_held() {
        let tmp = tempfile::tempdir().unwrap();
        let _held = StoreLock::acquire(tmp.path()).unwrap();

        let err = StoreLock::acquire(tmp.path()).unwrap_err();

        assert!(matches!(&err, StoreError::Locked { dir } if dir == tmp.path()));
        let message = err.to_string();
        assert!(message.contains("正被另一个 zhibu 程序使用"), "{message}");
        assert!(message.contains(&tmp.path().display().to_string()), "{message}");
    }

    #[test]
    fn lock_is_granted_again_after_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let first = StoreLock::acquire(tmp.path()).unwrap();
        drop(first);

        let second = StoreLock::acquire(tmp.path()).unwrap();

        assert_eq!(second.dir(), tmp.path());
    }

    #[test]
    fn first_start_creates_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("zhibu").join("store");

        let _lock = StoreLock::acquire(&dir).unwrap();

        assert!(dir.is_dir());
    }
}
