//! The phone: one local store directory, opened by one process at a time.
//!
//! Invariants:
//! - **One writer.** [`Phone::open`] takes the directory's [`StoreLock`] and keeps it until the
//!   last clone of the `Phone` is dropped; a second opener, in this process or another, gets
//!   [`StoreError::Locked`](crate::store::StoreError::Locked).
//! - **Accepted means durable.** A call that changes a document returns `Ok` only after the
//!   change is appended and fsynced to the document's log (see [`DocFile`](crate::store::DocFile)). When the append
//!   fails, the in-memory document is reloaded from disk, so memory never holds an edit the
//!   disk lacks.
//! - **Memory follows disk.** The in-memory documents are loaded from the store at open and
//!   every change to them is persisted before the lock is released, so another `Phone` opened
//!   later on the same directory reads exactly what this one acknowledged.
//!
//! `Phone` is a cheap handle (`Clone`, `Send`, `Sync`): the app, the background sync task and
//! the UI share one. Calls lock it briefly; no lock is held across a network request.

mod docs;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use automerge::ActorId;
use tokio::sync::Notify;
use zhibu_schema::{Catalog, VillageId};

pub(crate) use docs::{REBUILDING, StoredDoc, put_back, set_aside};

use crate::catalog_cache::CachedCatalog;
use crate::device::Device;
use crate::error::ClientError;
use crate::session::{Role, Session};
use crate::store::{StoreLock, read_optional, write_atomic};
use crate::{DocKey, clock};

const ACCOUNT_FILE: &str = "account.json";

/// How a phone's store behaves; the defaults suit a phone.
#[derive(Debug, Clone)]
pub struct PhoneOptions {
    /// Fold a document's log into a new snapshot once the log holds this many bytes.
    pub compact_log_bytes: u64,
}

impl Default for PhoneOptions {
    fn default() -> Self {
        PhoneOptions { compact_log_bytes: 256 * 1024 }
    }
}

/// A handle on an open local store. See the module documentation for what it guarantees.
#[derive(Clone)]
pub struct Phone {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken after every edit, for the background sync task.
    edited: Notify,
    dir: PathBuf,
}

/// The state behind the lock.
pub(crate) struct Inner {
    _lock: StoreLock,
    pub dir: PathBuf,
    pub options: PhoneOptions,
    pub device: Device,
    pub actor: ActorId,
    pub session: Option<Session>,
    pub catalog: CachedCatalog,
    pub docs: BTreeMap<DocKey, StoredDoc>,
    /// Documents whose files are damaged, with why: not loaded, not synced, refused to edits
    /// until [`Phone::rebuild`](crate::Phone::rebuild) sets their files aside.
    pub damaged: BTreeMap<DocKey, String>,
    /// Set when a failed write could not be undone in memory; every later call fails.
    pub broken: Option<String>,
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phone").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

impl Phone {
    /// Opens (creating on first use) the store in `dir` with the default options.
    pub fn open(dir: &Path) -> Result<Phone, ClientError> {
        Phone::open_with(dir, PhoneOptions::default())
    }

    /// Opens the store in `dir`: takes its lock, creates the device identity on first use and
    /// loads every document, the login and the cached catalog.
    pub fn open_with(dir: &Path, options: PhoneOptions) -> Result<Phone, ClientError> {
        let lock = StoreLock::acquire(dir)?;
        let device = Device::load_or_create(dir)?;
        let actor = device.actor_id();
        let session = match read_session(dir)? {
            // A login whose account is not the one the device's identity belongs to was cut
            // short by a crash between the two files: its edits would go out under another
            // account's actor, so the phone asks for the login again (which takes the identity
            // as a login does).
            Some(s) if device.account.as_deref().is_some_and(|owner| owner != s.account.id.as_str()) => {
                tracing::warn!(account = %s.account.id, "a login cut short is forgotten");
                None
            }
            other => other,
        };
        let catalog = CachedCatalog::load(dir, session.as_ref().and_then(|s| s.account.township_id.as_deref()))?;
        let docs::AllDocs { docs, damaged } = docs::load_all(dir, &actor)?;
        let (_lock, broken) = (lock, None);
        let inner =
            Inner { _lock, dir: dir.to_path_buf(), options, device, actor, session, catalog, docs, damaged, broken };
        Ok(Phone {
            shared: Arc::new(Shared { inner: Mutex::new(inner), edited: Notify::new(), dir: dir.to_path_buf() }),
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// This device's identity (actor id, peer id).
    pub fn device(&self) -> Device {
        self.lock().device.clone()
    }

    /// The login on this phone, if any.
    pub fn session(&self) -> Option<Session> {
        self.lock().session.clone()
    }

    /// Stores a login (what [`login`](crate::login) does after the server accepted the
    /// password). The documents on the phone stay as they are. Another account than the one
    /// whose edits this phone made gets an actor of its own, once those edits have all synced
    /// (see [`Device`]); until then it is refused with [`ClientError::OtherAccountsEdits`], and
    /// while a document's files are damaged with [`ClientError::OtherAccountsDamaged`].
    pub fn set_session(&self, session: Session) -> Result<(), ClientError> {
        let mut inner = self.lock();
        let pending = inner.pending_edits();
        let damaged = inner.damaged.keys().next();
        let device = inner.device.for_account(&inner.dir, session.account.id.as_str(), pending, damaged)?;
        let bytes = serde_json::to_vec_pretty(&session).expect("a session serializes");
        if let Err(e) = write_atomic(&inner.dir.join(ACCOUNT_FILE), &bytes) {
            // Nothing changes: the identity stored for the new account goes back to the old
            // one's (best effort; if that fails too, opening the phone finds the two files
            // disagree and asks for a login again).
            if device.is_some()
                && let Err(undo) = inner.device.store(&inner.dir)
            {
                tracing::warn!(error = %undo, "the previous device identity was not restored");
            }
            return Err(e.into());
        }
        if let Some(device) = device {
            let actor = device.actor_id();
            if actor != inner.actor {
                // Every document goes on under the new actor, as opening the phone would load it
                // (memory holds what the disk holds), without reading the disk again: a sync
                // running meanwhile keeps the documents it works on.
                for doc in inner.docs.values_mut() {
                    doc.replica.doc.set_actor(actor.clone());
                }
                inner.actor = actor;
            }
            inner.device = device;
        }
        if !inner.catalog.belongs_to(session.account.township_id.as_deref()) {
            // Another township's rules: the built-in default until the next sync fetches this
            // one's (the file stays, and opening the phone makes the same choice).
            inner.catalog = CachedCatalog::built_in();
            for doc in inner.docs.values_mut() {
                doc.replica.forget_violations();
            }
        }
        inner.session = Some(session);
        Ok(())
    }

    /// Forgets the login. Documents and edits waiting to sync stay on the phone.
    pub fn clear_session(&self) -> Result<(), ClientError> {
        let mut inner = self.lock();
        let path = inner.dir.join(ACCOUNT_FILE);
        match std::fs::remove_file(&path) {
            Ok(()) => crate::store::atomic::sync_dir(&inner.dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(
                    crate::store::StoreError::Io { context: format!("删除 {}", path.display()), source: e }.into()
                );
            }
        }
        inner.session = None;
        Ok(())
    }

    /// The catalog edits are checked against: the township's as last fetched, or the built-in
    /// default before the first fetch.
    pub fn catalog(&self) -> Catalog {
        self.lock().catalog.catalog.clone()
    }

    /// When the catalog was last fetched from the server (None: the built-in default).
    pub fn catalog_fetched_at(&self) -> Option<String> {
        self.lock().catalog.fetched_at.clone()
    }

    /// Stores a catalog fetched from the server.
    pub fn set_catalog(&self, catalog: Catalog) -> Result<(), ClientError> {
        let mut inner = self.lock();
        let township = inner.session_township();
        inner.catalog = CachedCatalog::store(&inner.dir, catalog, township)?;
        for doc in inner.docs.values_mut() {
            doc.replica.forget_violations();
        }
        Ok(())
    }

    /// Records that the server confirmed the cached catalog is the one in force: it counts as
    /// fetched now.
    pub(crate) fn confirm_catalog(&self) -> Result<(), ClientError> {
        let mut inner = self.lock();
        if !inner.catalog.is_stale() {
            return Ok(());
        }
        let catalog = inner.catalog.catalog.clone();
        let township = inner.session_township();
        inner.catalog = CachedCatalog::store(&inner.dir, catalog, township)?;
        Ok(())
    }

    /// The village-year documents on this phone.
    pub fn documents(&self) -> Vec<DocKey> {
        self.lock().docs.keys().cloned().collect()
    }

    /// A copy of a document as the phone has it (None when the phone has none), for reading it
    /// with any Automerge tool.
    pub fn document(&self, key: &DocKey) -> Option<automerge::Automerge> {
        self.lock().docs.get(key).map(|d| d.replica.doc.clone())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held cannot have left a half-made change: Automerge rolls
        // back a transaction that is dropped, and the disk is written only after a commit.
        self.shared.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked state, after checking the phone is still usable.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> Result<R, ClientError>) -> Result<R, ClientError> {
        let mut inner = self.lock();
        if let Some(why) = &inner.broken {
            return Err(ClientError::damaged(&inner.dir, why));
        }
        f(&mut inner)
    }

    pub(crate) fn edited(&self) -> &Notify {
        &self.shared.edited
    }
}

impl Inner {
    /// The township of the login, whose catalog a fetched one is.
    fn session_township(&self) -> Option<String> {
        self.session.as_ref().and_then(|s| s.account.township_id.clone())
    }

    /// Edits waiting to sync, over all documents.
    pub(crate) fn pending_edits(&self) -> usize {
        self.docs.values().map(|d| d.replica.pending()).sum()
    }

    /// The session of a cadre, who may edit and sync the village's documents.
    pub fn cadre(&self) -> Result<&Session, ClientError> {
        let session = self.session.as_ref().ok_or(ClientError::NotLoggedIn)?;
        match (session.account.role, session.village()) {
            (Role::Cadre, Some(_)) => Ok(session),
            _ => Err(ClientError::NotAllowed(format!(
                "本账号（{}，{}）不能修改或同步村里的记录，请用村干部账号登录",
                session.account.id,
                session.account.role.label()
            ))),
        }
    }

    /// The village of the cadre logged in.
    pub fn village(&self) -> Result<VillageId, ClientError> {
        Ok(self.cadre()?.village().expect("checked by cadre()").clone())
    }

    /// The document, created in memory from the genesis change if the phone has none yet.
    /// Nothing is written until a change is.
    pub fn doc_or_new(&mut self, key: &DocKey) -> Result<&mut StoredDoc, ClientError> {
        self.undamaged(key)?;
        if !self.docs.contains_key(key) {
            let doc = StoredDoc::create(&self.dir, key.clone(), self.actor.clone())?;
            self.docs.insert(key.clone(), doc);
        }
        Ok(self.docs.get_mut(key).expect("inserted above"))
    }

    /// Refuses to go on with a sync begun under another login (`login`, its token) than the
    /// phone's now.
    pub fn same_login(&self, login: Option<&str>) -> Result<(), ClientError> {
        if self.session.as_ref().map(|s| s.token.as_str()) == login {
            Ok(())
        } else {
            Err(ClientError::SessionExpired("登录已变更或已退出，这次同步已停止".to_owned()))
        }
    }

    /// Refuses a document whose files are damaged: nothing of it may be read, written over or
    /// synced until it is rebuilt.
    pub fn undamaged(&self, key: &DocKey) -> Result<(), ClientError> {
        match self.damaged.get(key) {
            Some(detail) => Err(ClientError::DocDamaged { key: key.clone(), detail: detail.clone() }),
            None => Ok(()),
        }
    }

    /// Moves the files of a damaged document aside, as they are (see [`set_aside`]), and
    /// forgets that it was damaged: the folder they went to.
    pub fn set_aside_damaged(&mut self, key: &DocKey) -> Result<PathBuf, ClientError> {
        let aside = set_aside(&self.dir, key, clock::unix_seconds())?;
        self.damaged.remove(key);
        Ok(aside)
    }

    /// Appends new changes of a document to its log; see [`StoredDoc::persist`].
    pub fn persist(&mut self, key: &DocKey, bytes: &[u8]) -> Result<(), ClientError> {
        let (dir, actor, limit) = (self.dir.clone(), self.actor.clone(), self.options.compact_log_bytes);
        let doc = self.docs.get_mut(key).expect("persisting a document that is loaded");
        if let Err(e) = doc.persist(&dir, bytes, limit) {
            if let Err(reload) = doc.reload(&dir, actor) {
                self.broken = Some(format!("写入失败后无法重新读取：{reload}"));
            }
            return Err(e);
        }
        Ok(())
    }

    /// Writes a document's sync metadata.
    pub fn save_meta(&self, key: &DocKey) -> Result<(), ClientError> {
        let doc = self.docs.get(key).expect("saving the metadata of a loaded document");
        doc.replica.meta.save(&crate::replica::meta::path_for(&self.dir, key))
    }

    /// The documents of the cadre's village, in year order.
    pub fn village_docs(&self) -> Result<Vec<DocKey>, ClientError> {
        let village = self.village()?;
        Ok(self.docs.keys().filter(|k| k.village == village).cloned().collect())
    }
}

fn read_session(dir: &Path) -> Result<Option<Session>, ClientError> {
    let path = dir.join(ACCOUNT_FILE);
    match read_optional(&path)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| ClientError::damaged(&path, e)),
    }
}

/// The current year's key for the cadre's village.
pub(crate) fn this_years_key(village: VillageId) -> Result<DocKey, ClientError> {
    Ok(DocKey::new(village, clock::this_year()?))
}

#[cfg(test)]
mod tests;
