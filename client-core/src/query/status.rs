//! Where the phone stands: who is logged in, how many edits wait to sync, when the last sync
//! succeeded, what the server last refused.

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, ServerRefusal};
use crate::session::Account;
use crate::{DocKey, Phone, clock};

/// One document on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocStatus {
    /// The document.
    pub key: DocKey,
    /// This device's edits the server has not acknowledged.
    pub pending: usize,
    /// When a sync of this document last succeeded (RFC 3339).
    pub last_sync: Option<String>,
    /// The server's last refusal, until a later sync succeeds.
    pub refusal: Option<ServerRefusal>,
    /// When the server refused (RFC 3339).
    pub refused_at: Option<String>,
    /// Fields that two phones set differently (see [`Phone::conflicts`]).
    pub conflicts: usize,
    /// The phone's files of the document are damaged (which, and what does not decode): it is
    /// neither read nor synced until rebuilt (see [`ClientError::DocDamaged`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damaged: Option<String>,
}

/// The whole phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The account logged in, if any.
    pub account: Option<Account>,
    /// The server's base URL, when logged in.
    pub server: Option<String>,
    /// This device's actor (and peer) id.
    pub device: String,
    /// When the catalog was fetched (None: the built-in default is in use).
    pub catalog_fetched_at: Option<String>,
    /// Edits waiting to sync, over all documents.
    pub pending: usize,
    /// The latest successful sync of any document (RFC 3339).
    pub last_sync: Option<String>,
    /// Each document on the phone.
    pub docs: Vec<DocStatus>,
}

impl Phone {
    /// The phone's status. Works with or without a login.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.with(|inner| {
            let mut docs = Vec::new();
            for (key, doc) in &inner.docs {
                let r = &doc.replica;
                docs.push(DocStatus {
                    key: key.clone(),
                    pending: r.pending(),
                    last_sync: r.meta.last_sync.map(clock::format),
                    refusal: r.meta.refusal.as_ref().map(|x| x.refusal.clone()),
                    refused_at: r.meta.refusal.as_ref().map(|x| clock::format(x.at)),
                    conflicts: crate::query::conflicts::count(&r.doc),
                    damaged: None,
                });
            }
            for (key, detail) in &inner.damaged {
                docs.push(DocStatus {
                    key: key.clone(),
                    pending: 0,
                    last_sync: None,
                    refusal: None,
                    refused_at: None,
                    conflicts: 0,
                    damaged: Some(detail.clone()),
                });
            }
            docs.sort_by(|a, b| a.key.cmp(&b.key));
            let last = inner.docs.values().filter_map(|d| d.replica.meta.last_sync).max();
            Ok(Status {
                account: inner.session.as_ref().map(|s| s.account.clone()),
                server: inner.session.as_ref().map(|s| s.server.clone()),
                device: inner.device.actor.clone(),
                catalog_fetched_at: inner.catalog.fetched_at.clone(),
                pending: docs.iter().map(|d| d.pending).sum(),
                last_sync: last.map(clock::format),
                docs,
            })
        })
    }

    /// Edits waiting to sync, over all documents.
    pub fn pending_edits(&self) -> usize {
        self.lock().pending_edits()
    }

    /// The documents whose files are damaged: their edits waiting to sync, if any, are not
    /// counted in [`pending_edits`](Self::pending_edits) until they are rebuilt.
    pub fn damaged_documents(&self) -> Vec<DocKey> {
        self.lock().damaged.keys().cloned().collect()
    }

    /// Moves the files of every damaged document aside, as they are, into a folder beside the
    /// store (`VILLAGE.YEAR.damaged-TIME`), and forgets them: those years are then taken from
    /// the server at the next sync, without the edits the damaged files may hold. For a phone
    /// whose damaged year only another account can rebuild ([`ClientError::OtherAccountsDamaged`]);
    /// `zhibu rebuild` keeps what of those edits still reads. Returns each year and its folder.
    pub fn set_aside_damaged(&self) -> Result<Vec<(DocKey, std::path::PathBuf)>, ClientError> {
        self.with(|inner| {
            let keys: Vec<DocKey> = inner.damaged.keys().cloned().collect();
            let mut moved = Vec::new();
            for key in keys {
                let aside = inner.set_aside_damaged(&key)?;
                moved.push((key, aside));
            }
            Ok(moved)
        })
    }

    /// When a sync last succeeded, for any document.
    pub fn last_sync(&self) -> Option<time::OffsetDateTime> {
        self.lock().docs.values().filter_map(|d| d.replica.meta.last_sync).max()
    }
}
