//! Whole-file replacement that survives a crash at any point.
//!
//! Invariant: after [`write_atomic`] returns, `path` holds the new bytes durably; if the process
//! or the machine dies before that, `path` holds either the complete old content (or is still
//! absent) or the complete new content, never a mix. This relies on `rename` replacing a
//! directory entry atomically (POSIX), with the data made durable before the rename and the
//! directory entry made durable after it.
//!
//! The temp file has a fixed name (`.NAME.tmp` next to the target), so a crash leaves at most one
//! stale temp file per target, which the next write reuses. Two concurrent writers to the same
//! target would share it; the store's single writer is guaranteed by
//! [`StoreLock`](super::StoreLock).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Replaces the content of `path` with `bytes`, crash-atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = replace(path, bytes)?;
    sync_dir(dir)
}

/// [`write_atomic`] but for the final sync of the directory, left to the caller, which is told
/// the directory: once this returns, `path` holds `bytes` (what a reader sees now), though the
/// rename may not survive a power loss until the directory is synced. A caller that keeps state
/// about the file must take the new content as the file's before that sync, which can fail.
pub(crate) fn replace<'p>(path: &'p Path, bytes: &[u8]) -> Result<&'p Path, StoreError> {
    let (dir, tmp) = temp_path_for(path)?;
    let result = write_synced(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| StoreError::io(e, format!("替换 {}", path.display()))));
    if result.is_err() {
        // Best effort: a leftover temp file is harmless (the next write truncates it), so a
        // failure to remove it must not hide the original error.
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| dir)
}

/// The whole content of `path`, or `None` if there is no such file.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(e, format!("读取 {}", path.display()))),
    }
}

/// Makes the directory entries of `dir` (created, renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    // Windows cannot open a directory as a `File` and does not need it: NTFS journals the
    // rename itself. Phones (Android, iOS) and the dev machines are Unix.
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(e, format!("同步目录 {}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn temp_path_for(path: &Path) -> Result<(&Path, PathBuf), StoreError> {
    let Some(file_name) = path.file_name() else {
        let e = io::Error::new(io::ErrorKind::InvalidInput, "path has no file name");
        return Err(StoreError::io(e, format!("写入 {}", path.display())));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(".tmp");
    Ok((dir, dir.join(tmp_name)))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| StoreError::io(e, format!("创建 {}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io(e, format!("写入 {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_content() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.snap");
        write_atomic(&path, b"old content that is longer").unwrap();

        write_atomic(&path, b"new").unwrap();

        assert_eq!(read_optional(&path).unwrap().as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn write_atomic_leaves_no_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_atomic(&tmp.path().join("a.snap"), b"x").unwrap();

        let names: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();

        assert_eq!(names, vec![OsString::from("a.snap")]);
    }

    #[test]
    fn a_stale_temp_file_from_a_crash_does_not_leak_into_the_next_write() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(".a.snap.tmp"), b"half-written garbage from a crash").unwrap();
        let path = tmp.path().join("a.snap");

        write_atomic(&path, b"ok").unwrap();

        assert_eq!(read_optional(&path).unwrap().as_deref(), Some(&b"ok"[..]));
    }

    #[test]
    fn read_optional_of_a_missing_file_is_none() {
        let tmp = tempfile::tempdir().unwrap();

        assert_eq!(read_optional(&tmp.path().join("nope")).unwrap(), None);
    }

    #[test]
    fn write_into_a_missing_directory_is_an_io_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("missing").join("a.snap");

        let err = write_atomic(&path, b"x").unwrap_err();

        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(".a.snap.tmp"), "{err}");
    }
}
