//! One document on disk: a snapshot plus an append-only log of the chunks written since.
//!
//! Files, for a document named `NAME` in `DIR`:
//! - `NAME.snap`: header (generation g) + the caller's last snapshot. Absent until the first
//!   [`DocFile::compact`]; "no snapshot" counts as generation 0.
//! - `NAME.log`: header (generation g) + one framed record per [`DocFile::append`].
//!
//! Invariants:
//! - **Accepted means durable.** When `append` returns `Ok`, the chunk is on disk (`sync_data`)
//!   and every later `load` returns it, whatever crash comes next, until a `compact` folds it
//!   into a snapshot. When `compact` returns `Ok`, the new snapshot is on disk and the log is
//!   empty.
//! - **A log only counts for the snapshot it extends.** `load` returns log chunks only when the
//!   log's generation equals the snapshot's. `compact` writes the snapshot of generation g+1
//!   first (whole-file atomic) and only then replaces the log by an empty one of generation g+1.
//!   A crash in between leaves a durable new snapshot and a log of generation g, which is
//!   ignored; so the log is never emptied before its replacement snapshot is durable, and chunks
//!   already folded into a snapshot are never handed out again. The caller's chunks are
//!   Automerge changes, which are idempotent, so a replay would be harmless anyway; the
//!   generation makes the store exact without relying on that.
//! - **Torn tails are cut, not skipped over, and kept aside.** A crash in the middle of an
//!   append can leave part of a record at the end of the log. `load` returns the records before
//!   it, and the next `append` truncates the log back to the last whole record before writing,
//!   so the new record follows the last good one directly and no leftover of the torn write
//!   stays behind it, where a later reader could stop at it or, worse, misread it as a record (a
//!   torn chunk's payload can contain anything). The bytes cut are first written beside the log
//!   (`NAME.log.cut-OFFSET`): no byte that might hold an edit is destroyed.
//! - **Damage mid-log is stepped over, or reported.** Records are only appended, so a bad record
//!   is normally the tail; one that whole, valid records follow (a damaged disk) is skipped and
//!   the records after it are read and kept ([`record::scan`]); its bytes stay where they are.
//!   Damage to a record's length cannot be stepped over: when whole records are found after it
//!   ([`record::find_all`]), `load` reports the log damaged ([`StoreError::Corrupt`]) rather
//!   than show the document without them, and [`salvage`] finds them.
//! - An `append` or `compact` that returns `Err` may or may not have reached the disk; the
//!   caller keeps the data and retries.
//!
//! The caller holds the directory's [`StoreLock`](super::StoreLock) for as long as it uses a
//! `DocFile`: the in-memory end of the log assumes nobody else writes it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::atomic::{read_optional, replace, sync_dir, write_atomic};
use super::header::{self, FileKind, Generation, HEADER_LEN};
use super::name::DocName;
use super::{StoreError, record, snapshot};

/// What a document's files hold: the last snapshot and the chunks appended since, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The last snapshot, if there is one.
    pub snapshot: Option<Vec<u8>>,
    /// The chunks appended since, in order.
    pub chunks: Vec<Vec<u8>>,
}

/// One document's snapshot and log; see the module documentation.
#[derive(Debug)]
pub struct DocFile {
    snapshot_path: PathBuf,
    log_path: PathBuf,
    /// Generation of the snapshot on disk.
    generation: Generation,
    /// `None` while the log on disk does not extend the current snapshot (missing, or left from
    /// a compaction cut short); the next append replaces it.
    log: Option<ActiveLog>,
}

/// The open log of the current generation.
#[derive(Debug)]
struct ActiveLog {
    file: File,
    /// End of the last whole record.
    end: u64,
    tail: Tail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    Clean,
    /// Bytes past `end` (a torn or failed write); truncate before the next write.
    Garbage,
}

impl DocFile {
    /// Opens the document `name` in `dir` without writing anything; files are created by the
    /// first `append` or `compact`. `name` is a file stem such as `demo-1.2026`.
    pub fn open(dir: &Path, name: &str) -> Result<DocFile, StoreError> {
        let name = DocName::parse(name)?;
        let snapshot_path = dir.join(name.file_name("snap"));
        let log_path = dir.join(name.file_name("log"));
        let generation = snapshot::read_generation(&snapshot_path)?;
        let log = ActiveLog::open(&log_path, generation)?;
        Ok(DocFile { snapshot_path, log_path, generation, log })
    }

    /// Reads the snapshot and every whole, checksum-valid record of the log, in append order.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let snapshot_file = read_optional(&self.snapshot_path)?;
        let (generation, snapshot) = match &snapshot_file {
            Some(bytes) => {
                let (generation, snapshot) = snapshot::decode(bytes, &self.snapshot_path)?;
                (generation, Some(snapshot.to_vec()))
            }
            None => (Generation::BEFORE_FIRST_SNAPSHOT, None),
        };
        let mut chunks = Vec::new();
        if let Some(bytes) = read_optional(&self.log_path)? {
            let (log_generation, body) = header::decode(FileKind::Log, &bytes, &self.log_path)?;
            if extends(log_generation, generation, &self.log_path)? {
                let read = record::scan(body);
                // Whole records past where reading stopped: damage to a length, not a torn
                // append (which leaves nothing whole after it). They may be edits the server
                // never had; reading on without them would show the document without them, and
                // the next append would cut them off.
                let stranded = record::find_all(&body[read.valid_len..]).len();
                if stranded > 0 {
                    return Err(StoreError::Corrupt {
                        path: self.log_path.clone(),
                        detail: format!("日志中间有记录损坏，其后的 {stranded} 条记录无法按顺序读出"),
                    });
                }
                chunks = read.records.into_iter().map(<[u8]>::to_vec).collect();
            }
        }
        Ok(Loaded { snapshot, chunks })
    }

    /// Appends one chunk and makes it durable before returning.
    pub fn append(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        let record = record::encode(chunk)?;
        let log = match &mut self.log {
            Some(log) => log,
            None => self.log.insert(ActiveLog::create(&self.log_path, self.generation)?),
        };
        log.append(&record, &self.log_path)
    }

    /// Replaces the snapshot with `snapshot` (which must include every chunk appended so far)
    /// and empties the log, durably; see the module doc for why a crash midway loses nothing.
    pub fn compact(&mut self, snapshot: &[u8]) -> Result<(), StoreError> {
        let next = self.generation.next();
        let dir = replace(&self.snapshot_path, &snapshot::encode(next, snapshot)?)?;
        // From here on the old log is stale, whether or not syncing the directory or replacing
        // the log below succeeds: a reader takes the new snapshot, and edits appended to the
        // old log would be ignored by it.
        self.generation = next;
        self.log = None;
        sync_dir(dir)?;
        self.log = Some(ActiveLog::create(&self.log_path, next)?);
        Ok(())
    }

    /// Bytes of whole records in the log (framing included, header not), to decide when to
    /// compact. 0 right after `compact`.
    pub fn log_len(&self) -> u64 {
        self.log.as_ref().map_or(0, |log| log.end - HEADER_LEN as u64)
    }
}

/// Whether a log of `log_generation` extends the snapshot of `snapshot_generation`. An older
/// log is left from a compaction cut short; a newer one means the snapshot it extends is gone.
fn extends(log_generation: Generation, snapshot_generation: Generation, log_path: &Path) -> Result<bool, StoreError> {
    if log_generation > snapshot_generation {
        return Err(StoreError::Corrupt {
            path: log_path.to_path_buf(),
            detail: "对应的快照文件缺失或比日志旧".to_owned(),
        });
    }
    Ok(log_generation == snapshot_generation)
}

impl ActiveLog {
    /// The log at `path` if it extends the snapshot of `generation`.
    fn open(path: &Path, generation: Generation) -> Result<Option<ActiveLog>, StoreError> {
        let context = || format!("读取 {}", path.display());
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(e, context())),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| StoreError::io(e, context()))?;
        let (log_generation, body) = header::decode(FileKind::Log, &bytes, path)?;
        if !extends(log_generation, generation, path)? {
            return Ok(None);
        }
        let scan = record::scan(body);
        let tail = if scan.has_bad_tail(body.len()) { Tail::Garbage } else { Tail::Clean };
        Ok(Some(ActiveLog { file, end: (HEADER_LEN + scan.valid_len) as u64, tail }))
    }

    /// Replaces whatever is at `path` with an empty log of `generation`.
    fn create(path: &Path, generation: Generation) -> Result<ActiveLog, StoreError> {
        write_atomic(path, &header::encode(FileKind::Log, generation))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(e, format!("打开 {}", path.display())))?;
        Ok(ActiveLog { file, end: HEADER_LEN as u64, tail: Tail::Clean })
    }

    fn append(&mut self, record: &[u8], path: &Path) -> Result<(), StoreError> {
        let context = || format!("追加记录到 {}", path.display());
        if self.tail == Tail::Garbage {
            // A torn write, or damage that cannot be stepped over: kept aside before it is cut,
            // so that no byte that might hold an edit is ever destroyed.
            let mut tail = Vec::new();
            self.file
                .seek(SeekFrom::Start(self.end))
                .and_then(|_| self.file.read_to_end(&mut tail))
                .map_err(|e| StoreError::io(e, context()))?;
            if !tail.is_empty() {
                write_atomic(&cut_path(path, self.end), &tail)?;
            }
            self.file.set_len(self.end).map_err(|e| StoreError::io(e, context()))?;
        }
        // Until the write below is known to be whole and durable, whatever lies past `end` is
        // garbage for the next append to cut.
        self.tail = Tail::Garbage;
        self.file
            .seek(SeekFrom::Start(self.end))
            .and_then(|_| self.file.write_all(record))
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::io(e, context()))?;
        self.end += record.len() as u64;
        self.tail = Tail::Clean;
        Ok(())
    }
}

/// Where the bytes cut from the log at `end` are kept: beside the log, named by the offset, and
/// never over an earlier cut (offsets repeat: another cut at the same damage, or after a
/// compaction), which would destroy the only copy of what it holds.
fn cut_path(log_path: &Path, end: u64) -> PathBuf {
    let named = |suffix: String| {
        let mut name = log_path.as_os_str().to_owned();
        name.push(format!(".cut-{end}{suffix}"));
        PathBuf::from(name)
    };
    (1..)
        .map(|n| named(if n == 1 { String::new() } else { format!("-{n}") }))
        .find(|p| !p.exists())
        .expect("some name is free")
}

/// Whatever the damaged files of the document `name` in `dir` still hold, for recovering edits
/// from them: the snapshot's record and the whole records of the log and of the tails cut from
/// it, each found by its checksum even past a damaged header or length, whatever the
/// generations say (Automerge changes are idempotent,
/// so a chunk a snapshot already holds does no harm). Never fails: what cannot be read is left
/// out, and the files are not touched.
pub fn salvage(dir: &Path, name: &str) -> Loaded {
    let Ok(name) = DocName::parse(name) else { return Loaded::default() };
    let records = |path: &Path, header: usize| -> Vec<Vec<u8>> {
        let Ok(Some(bytes)) = read_optional(path) else { return Vec::new() };
        let body = bytes.get(header..).unwrap_or_default();
        record::find_all(body).into_iter().map(<[u8]>::to_vec).collect()
    };
    let mut chunks = records(&dir.join(name.file_name("log")), HEADER_LEN);
    // The tails appends cut from the log (no header: the bytes as they were past the last whole
    // record), in case they hold records.
    for path in cut_tails(dir, &name).unwrap_or_default() {
        chunks.extend(records(&path, 0));
    }
    Loaded { snapshot: records(&dir.join(name.file_name("snap")), HEADER_LEN).into_iter().next(), chunks }
}

/// The tails appends cut from the log of the document `name` in `dir` ([`cut_path`]), in the
/// order of their names.
pub(crate) fn cut_tails(dir: &Path, name: &DocName) -> io::Result<Vec<PathBuf>> {
    let prefix = name.file_name("log.cut-");
    let mut tails = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)) {
            tails.push(entry.path());
        }
    }
    tails.sort();
    Ok(tails)
}

#[cfg(test)]
mod tests;
