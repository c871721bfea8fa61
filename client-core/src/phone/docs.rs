//! The documents of a store: found by listing the directory, each loaded from its snapshot and
//! log, each change appended durably.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use automerge::{ActorId, ReadDoc};

use crate::DocKey;
use crate::error::ClientError;
use crate::replica::{Replica, SyncMeta, meta};
use crate::store::log::cut_tails;
use crate::store::name::DocName;
use crate::store::{DocFile, StoreError};

/// One document: its files and its replica in memory.
#[derive(Debug)]
pub(crate) struct StoredDoc {
    pub file: DocFile,
    pub replica: Replica,
}

impl StoredDoc {
    /// A document the phone does not have yet: the genesis change only, no file written.
    pub fn create(dir: &Path, key: DocKey, actor: ActorId) -> Result<StoredDoc, ClientError> {
        let file = DocFile::open(dir, &key.stem())?;
        Ok(StoredDoc { file, replica: Replica::new(key, actor) })
    }

    fn load(dir: &Path, key: DocKey, actor: ActorId) -> Result<StoredDoc, ClientError> {
        let file = DocFile::open(dir, &key.stem())?;
        let loaded = file.load()?;
        let meta = SyncMeta::load(&meta::path_for(dir, &key))?;
        let path = dir.join(format!("{}.log", key.stem()));
        let replica = Replica::load(key, actor, loaded.snapshot.as_deref(), &loaded.chunks, meta)
            .map_err(|e| ClientError::damaged(&path, format!("文档内容无法解析：{e}")))?;
        // Changes that wait for others the files no longer give (a record skipped as damaged
        // that later ones build on) do not show: the document would look whole without them,
        // and they would never be sent. Only damage leaves them, since only applied changes are
        // ever written.
        let missing = replica.doc.get_missing_deps(&[]);
        if !missing.is_empty() {
            let detail = format!("日志中有记录损坏，其后的修改缺少 {} 个前置修改，无法计入", missing.len());
            return Err(ClientError::damaged(path, detail));
        }
        Ok(StoredDoc { file, replica })
    }

    /// Appends `bytes` (new changes, already in the replica) and fsyncs them; then folds the log
    /// into a snapshot when it has grown past `compact_after` bytes, or at once when `bytes` is
    /// a big batch (a first sync): a snapshot loads in a third of the time the same changes take
    /// from the log, and is a tenth of their size. With a fresh snapshot go the records as read
    /// (see [`crate::replica::records`]).
    pub fn persist(&mut self, dir: &Path, bytes: &[u8], compact_after: u64) -> Result<(), ClientError> {
        self.file.append(bytes)?;
        if self.file.log_len() > compact_after || bytes.len() as u64 > compact_after / 8 {
            match self.file.compact(&self.replica.doc.save()) {
                Ok(()) => self.replica.cache_records(dir),
                // The changes are already durable in the log; a failed compaction leaves the old
                // snapshot and log in force (see `DocFile::compact`), so the edit still stands.
                Err(e) => {
                    tracing::warn!(doc = %self.replica.key, error = %e, "compaction failed; will retry on a later edit")
                }
            }
        }
        Ok(())
    }

    /// Replaces the whole document by `snapshot` (a rebuild): durable before it returns.
    pub fn replace(&mut self, snapshot: &[u8]) -> Result<(), ClientError> {
        self.file.compact(snapshot)?;
        Ok(())
    }

    /// Reloads the document from disk after a failed write, so memory holds what the disk
    /// holds. The file is reopened: a write that failed midway may have left a tail that only
    /// a fresh scan accounts for.
    pub fn reload(&mut self, dir: &Path, actor: ActorId) -> Result<(), ClientError> {
        let fresh = StoredDoc::load(dir, self.replica.key.clone(), actor)?;
        let meta = std::mem::take(&mut self.replica.meta);
        *self = fresh;
        self.replica.meta = meta;
        Ok(())
    }
}

/// The documents of a store directory.
#[derive(Debug, Default)]
pub(crate) struct AllDocs {
    /// Those that load.
    pub docs: BTreeMap<DocKey, StoredDoc>,
    /// Those whose files are damaged (a failing flash chip, a file edited by hand), with which
    /// file and what does not decode: the others must not be held up by them.
    pub damaged: BTreeMap<DocKey, String>,
}

/// Every document in `dir`, by the snapshot and log files it has; first, the damaged files a
/// rebuild cut short had set aside go back (see [`REBUILDING`]).
pub(crate) fn load_all(dir: &Path, actor: &ActorId) -> Result<AllDocs, ClientError> {
    let list =
        || fs::read_dir(dir).map_err(|e| StoreError::Io { context: format!("列出 {}", dir.display()), source: e });
    for entry in list()?.flatten() {
        let aside = entry.path();
        let name = entry.file_name();
        let stem = name.to_str().and_then(|n| n.split_once(".damaged-")).map(|(stem, _)| stem);
        if let Some(key) = stem.and_then(DocKey::from_stem)
            && aside.join(REBUILDING).is_file()
        {
            tracing::warn!(doc = %key, folder = %aside.display(), "a rebuild was cut short; its damaged files go back");
            put_back(dir, &key, &aside)?;
        }
    }
    let entries = list()?;
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::Io { context: format!("列出 {}", dir.display()), source: e })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name.strip_suffix(".snap").or_else(|| name.strip_suffix(".log"));
        if let Some(key) = stem.and_then(DocKey::from_stem)
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    let mut all = AllDocs::default();
    for key in keys {
        match StoredDoc::load(dir, key.clone(), actor.clone()) {
            Ok(doc) => {
                all.docs.insert(key, doc);
            }
            Err(ClientError::Damaged { path, detail } | ClientError::Store(StoreError::Corrupt { path, detail })) => {
                let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into());
                tracing::warn!(doc = %key, file, detail, "document damaged; the others are loaded");
                all.damaged.insert(key, format!("{file}：{detail}"));
            }
            // What failing flash gives on reading (EIO): the other documents may read fine.
            Err(ClientError::Store(StoreError::Io { context, source })) => {
                tracing::warn!(doc = %key, context, error = %source, "document unreadable; the others are loaded");
                all.damaged.insert(key, format!("{context}：{source}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(all)
}

/// Moves the files of the damaged document `key` (snapshot, log, the cut-off log tails kept
/// beside it, sync metadata) into a folder of their own beside the store,
/// `STEM.damaged-TIME[-N]`, so that a fresh document can take their place and nothing of them is
/// lost: they may hold edits the server never had.
pub(crate) fn set_aside(dir: &Path, key: &DocKey, time: i64) -> Result<PathBuf, ClientError> {
    let io = |context: String| move |source| StoreError::Io { context, source };
    let mut aside = dir.join(format!("{}.damaged-{time}", key.stem()));
    for n in 2.. {
        match fs::create_dir(&aside) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                aside = dir.join(format!("{}.damaged-{time}-{n}", key.stem()));
            }
            Err(e) => return Err(io(format!("创建 {}", aside.display()))(e).into()),
        }
    }
    let mut files = own_files(dir, key).to_vec();
    let name = DocName::parse(&key.stem())?;
    files.extend(cut_tails(dir, &name).map_err(io(format!("列出 {}", dir.display())))?);
    for from in files {
        let Some(name) = from.file_name() else { continue };
        match fs::rename(&from, aside.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("移动 {}", from.display()))(e).into()),
        }
    }
    crate::store::atomic::sync_dir(&aside)?;
    crate::store::atomic::sync_dir(dir)?;
    Ok(aside)
}

/// A document's own files in `dir`: its snapshot, its log and its sync metadata.
fn own_files(dir: &Path, key: &DocKey) -> [PathBuf; 3] {
    [dir.join(format!("{}.snap", key.stem())), dir.join(format!("{}.log", key.stem())), meta::path_for(dir, key)]
}

/// Written into the folder of a damaged document's files (see [`set_aside`]) while a rebuild
/// writes the year anew, removed when it has: a folder that still holds it at opening was left
/// by a rebuild cut short (the app killed), and its files go back, the year damaged again, so
/// that the edits found in them are not forgotten beside the store.
pub(crate) const REBUILDING: &str = "REBUILDING";

/// Undoes [`set_aside`] when what was to take the files' place could not be written (a full
/// disk): whatever the fresh document left is removed, and the files in `aside` go back.
pub(crate) fn put_back(dir: &Path, key: &DocKey, aside: &Path) -> Result<(), ClientError> {
    let io = |context: String| move |source| StoreError::Io { context, source };
    for path in &own_files(dir, key) {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("删除 {}", path.display()))(e).into()),
        }
    }
    for entry in fs::read_dir(aside).map_err(io(format!("列出 {}", aside.display())))? {
        let from = entry.map_err(io(format!("列出 {}", aside.display())))?.path();
        let Some(name) = from.file_name() else { continue };
        if name == REBUILDING {
            continue;
        }
        fs::rename(&from, dir.join(name)).map_err(io(format!("移回 {}", from.display())))?;
    }
    let _ = fs::remove_file(aside.join(REBUILDING));
    crate::store::atomic::sync_dir(dir)?;
    // Empty now; a folder left behind holds nothing.
    let _ = fs::remove_dir(aside);
    Ok(())
}
