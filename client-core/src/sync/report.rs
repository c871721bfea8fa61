//! What a sync reports: progress events while it runs, and a report per document at the end.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::DocKey;
use crate::error::ServerRefusal;

/// How a document's sync ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DocOutcome {
    /// Both sides now have every change of the other.
    Synced,
    /// The server refused and stored nothing; the phone keeps its edits (see
    /// [`Phone::rebuild`](crate::Phone::rebuild)).
    Refused(ServerRefusal),
    /// Not synced: the phone's files of the document are damaged (which, and what does not
    /// decode). Nothing of it was sent or written over; see
    /// [`ClientError::DocDamaged`](crate::ClientError::DocDamaged).
    Damaged {
        /// Which file, and what does not decode.
        detail: String,
    },
    /// Not stored this time: the server was busy or failed for a while (a 408, 409, 429 or
    /// 5xx answer for this document). Nothing is recorded as refused; the edits wait and go
    /// with a later sync.
    Later {
        /// The server's words.
        reason: String,
    },
}

impl DocOutcome {
    /// What a document's refusal with `status` means: a refusal to record, or a wait.
    pub(crate) fn of_refusal(refusal: ServerRefusal) -> DocOutcome {
        match refusal.status {
            408 | 409 | 429 | 500..=599 => DocOutcome::Later { reason: refusal.message },
            _ => DocOutcome::Refused(refusal),
        }
    }
}

/// One document of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSyncReport {
    /// The document.
    pub key: DocKey,
    /// How its sync ended.
    pub outcome: DocOutcome,
    /// Changes the phone sent (the fast path's count; the standard protocol decides itself).
    pub sent: usize,
    /// Changes the phone received that it did not have.
    pub received: usize,
    /// Whether the standard protocol was needed (the fast path asked for a resync).
    pub standard: bool,
}

/// A finished sync.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncReport {
    /// Each document synced.
    pub docs: Vec<DocSyncReport>,
    /// The catalog was fetched anew.
    pub catalog_updated: bool,
}

impl SyncReport {
    /// The documents the server refused.
    pub fn refusals(&self) -> impl Iterator<Item = (&DocKey, &ServerRefusal)> {
        self.docs.iter().filter_map(|d| match &d.outcome {
            DocOutcome::Refused(r) => Some((&d.key, r)),
            DocOutcome::Synced | DocOutcome::Damaged { .. } | DocOutcome::Later { .. } => None,
        })
    }

    /// The documents the server could not take this time, and why: their edits wait.
    pub fn later(&self) -> impl Iterator<Item = (&DocKey, &str)> {
        self.docs.iter().filter_map(|d| match &d.outcome {
            DocOutcome::Later { reason } => Some((&d.key, reason.as_str())),
            _ => None,
        })
    }

    /// The documents left out because the phone's files of them are damaged, as the error
    /// that says what to do.
    pub fn damaged(&self) -> impl Iterator<Item = crate::ClientError> + '_ {
        self.docs.iter().filter_map(|d| match &d.outcome {
            DocOutcome::Damaged { detail } => {
                Some(crate::ClientError::DocDamaged { key: d.key.clone(), detail: detail.clone() })
            }
            DocOutcome::Synced | DocOutcome::Refused(_) | DocOutcome::Later { .. } => None,
        })
    }
}

/// Progress of a sync, and of the background sync task, for a progress line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SyncEvent {
    /// A sync starts: this many documents, this many edits waiting.
    Started {
        /// Documents to sync.
        docs: usize,
        /// Edits waiting.
        pending: usize,
    },
    /// The fast path's one request is on its way.
    SendingFast {
        /// Documents in the request.
        docs: usize,
        /// Changes it carries.
        changes: usize,
        /// Bytes of those changes.
        bytes: usize,
    },
    /// A round of the standard protocol for one document.
    StandardRound {
        /// The document.
        key: DocKey,
        /// The round, from 1.
        round: usize,
        /// Bytes of the message sent.
        bytes: usize,
    },
    /// Changes arrived for a document.
    Received {
        /// The document.
        key: DocKey,
        /// Changes new to the phone.
        changes: usize,
    },
    /// A request failed; the next try is after `wait`.
    Retrying {
        /// The try that failed, from 1.
        attempt: u32,
        /// The wait before the next.
        wait: Duration,
        /// Why it failed.
        error: String,
    },
    /// A sync finished.
    Finished {
        /// What happened to each document.
        report: SyncReport,
    },
    /// (Background task) the server is out of reach; the next probe is after `retry_in`.
    Offline {
        /// Why the server could not be reached.
        error: String,
        /// The wait before the next probe.
        retry_in: Duration,
    },
    /// (Background task) a sync failed for another reason; it is tried again later.
    Failed {
        /// What went wrong.
        error: String,
    },
}
