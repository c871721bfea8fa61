//! Sync with the township server.
//!
//! [`Phone::sync`] first sends the fast path's one request, which carries every document's
//! changes that the server may lack and brings back what the phone lacks; a document the server
//! cannot settle that way (it answers `Resync`) goes through the standard Automerge sync
//! protocol, message by message, until both sides are quiet.
//!
//! Invariants:
//! - **Nothing is lost or doubled.** Changes received are durable in the document's log before
//!   the sync metadata says the server has them; the metadata is written after. A request that
//!   fails midway is simply sent again: Automerge changes are identified by their hash, so the
//!   server stores a change it already has once, and so does the phone.
//! - **A refusal keeps the edits.** When the server refuses a document (403, 422), the phone
//!   keeps its edits, records the refusal with the records and rules it names, and reports it;
//!   [`Phone::rebuild`] then takes the server's document plus the local edits that still pass.
//! - **Only what is new is sent.** The server heads of the last sync (fast path) and the
//!   standard protocol's shared heads are kept per document, so a reconnect starts from there.
//! - No lock on the phone is held while a request is on the wire: the cadre keeps editing.

mod backoff;
mod fast;
pub mod http;
pub mod rebuild;
pub mod report;
mod standard;
pub mod task;
pub mod transport;

use std::time::Duration;

pub(crate) use backoff::Backoff;
use report::{DocOutcome, DocSyncReport, SyncEvent, SyncReport};
use transport::{Transport, TransportError};

use crate::error::ClientError;
use crate::phone::this_years_key;
use crate::replica::RecordedRefusal;
use crate::zhibu_schema::Year;
use crate::{DocKey, Phone, clock};

/// How often and how patiently to retry a request that did not get through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: give up at the first network error).
    pub retries: u32,
    /// The first wait; each next one doubles, with jitter.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
}

/// How a sync runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Retries of each request.
    pub retry: RetryPolicy,
    /// The standard protocol gives up on a document after this many round trips.
    pub max_rounds: usize,
    /// Fetch the catalog when the cached one is more than a day old.
    pub refresh_catalog: bool,
}

impl SyncOptions {
    /// For one sync the user asked for: a few quick retries (about 15 s in all), then report
    /// "offline".
    pub fn once() -> SyncOptions {
        SyncOptions {
            retry: RetryPolicy { retries: 3, first_wait: Duration::from_secs(1), max_wait: Duration::from_secs(8) },
            max_rounds: 32,
            refresh_catalog: true,
        }
    }

    /// For the background task, which does its own backoff between syncs.
    pub fn no_retry() -> SyncOptions {
        SyncOptions { retry: RetryPolicy { retries: 0, ..SyncOptions::once().retry }, ..SyncOptions::once() }
    }
}

/// A progress callback.
pub(crate) type Progress<'a> = &'a mut (dyn FnMut(SyncEvent) + Send);

/// Retries of one request: after each failed try, [`Retrier::failed`] waits (or gives up).
pub(crate) struct Retrier {
    backoff: Backoff,
    attempt: u32,
}

impl Retrier {
    pub fn new(policy: &RetryPolicy) -> Retrier {
        Retrier { backoff: Backoff::new(policy.first_wait, policy.max_wait, Some(policy.retries)), attempt: 1 }
    }

    /// After a failed try: waits and returns `Ok` for another try on a network error while
    /// tries are left; otherwise the error to give up with (a last network error becomes
    /// [`ClientError::Offline`]).
    pub async fn failed(&mut self, error: TransportError, progress: Progress<'_>) -> Result<(), ClientError> {
        let TransportError::Network(message) = error else { return Err(error.into()) };
        let Some(wait) = self.backoff.next_wait() else { return Err(ClientError::Offline(message)) };
        progress(SyncEvent::Retrying { attempt: self.attempt, wait, error: message });
        tokio::time::sleep(wait).await;
        self.attempt += 1;
        Ok(())
    }
}

impl Phone {
    /// Makes `year`'s document one the phones syncs, from its genesis while the phone has
    /// none: another year than this one (next year's roster, imported by the township in
    /// December; last year's records). It is kept once the server sends it anything.
    pub fn follow_year(&self, year: Year) -> Result<(), ClientError> {
        self.with(|inner| {
            let key = DocKey::new(inner.village()?, year);
            inner.doc_or_new(&key).map(drop)
        })
    }

    /// Syncs every document of the cadre's village (and this year's, even before the phone has
    /// it) with the server through `transport`; see the module documentation.
    ///
    /// Returns a report per document; a refused document is reported there, not as an error.
    /// Errors: [`ClientError::Offline`] when the server stayed out of reach (edits are kept),
    /// [`ClientError::SessionExpired`] on a 401, [`ClientError::NotLoggedIn`] /
    /// [`ClientError::NotAllowed`] without a cadre's login, store errors.
    pub async fn sync<T: Transport>(
        &self,
        transport: &T,
        options: &SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncReport, ClientError> {
        let (keys, damaged) = self.with(|inner| {
            let village = inner.village()?;
            let this_year = this_years_key(village.clone())?;
            if !inner.damaged.contains_key(&this_year) {
                inner.doc_or_new(&this_year)?;
            }
            let damaged: Vec<_> = inner
                .damaged
                .iter()
                .filter(|(key, _)| key.village == village)
                .map(|(k, d)| (k.clone(), d.clone()))
                .collect();
            Ok((inner.village_docs()?, damaged))
        })?;
        // The login the sync began with, which the transport carries: another account logging
        // in meanwhile ends it, rather than send that account's edits with this login's token
        // (the server would bind their actor to this account for good).
        let login = self.session().map(|s| s.token);
        let login = login.as_deref();
        progress(SyncEvent::Started { docs: keys.len(), pending: self.pending_edits() });
        let mut report = SyncReport::default();
        let mut resync = Vec::new();
        let mut catalog_current = false;
        for chunk in keys.chunks(fast::MAX_DOCS) {
            let fast = fast::sync(self, transport, chunk, options, login, progress).await?;
            report.docs.extend(fast.done);
            resync.extend(fast.resync);
            catalog_current |= fast.catalog_current;
            report.catalog_updated |= fast.catalog_updated;
        }
        for (key, sent) in resync {
            let received = standard::sync(self, transport, &key, options, login, progress).await?;
            report.docs.push(match received {
                Ok(received) => DocSyncReport { key, outcome: DocOutcome::Synced, sent, received, standard: true },
                Err(refusal) => {
                    DocSyncReport { key, outcome: DocOutcome::Refused(refusal), sent, received: 0, standard: true }
                }
            });
        }
        // Left out, and said so: a damaged document must not hold up the others.
        report.docs.extend(damaged.into_iter().map(|(key, detail)| DocSyncReport {
            key,
            outcome: DocOutcome::Damaged { detail },
            sent: 0,
            received: 0,
            standard: false,
        }));
        report.docs.sort_by(|a, b| a.key.cmp(&b.key));
        // A refusal often means the township changed the catalog: fetch it now, not tomorrow
        // (unless the fast path's reply just said which catalog is in force).
        let stale = !catalog_current && (self.lock().catalog.is_stale() || report.refusals().next().is_some());
        if options.refresh_catalog && stale {
            match transport.fetch_catalog().await {
                Ok(catalog) => {
                    self.set_catalog(catalog)?;
                    report.catalog_updated = true;
                }
                Err(TransportError::Unauthorized(m)) => return Err(ClientError::SessionExpired(m)),
                // The documents are synced; the catalog can wait for the next sync.
                Err(e) => tracing::info!(error = %e, "catalog not refreshed"),
            }
        }
        progress(SyncEvent::Finished { report: report.clone() });
        Ok(report)
    }

    /// Edits waiting to sync in documents the server has not already refused as they are: the
    /// background task syncs when this is not zero.
    pub(crate) fn sync_due(&self) -> usize {
        self.lock().docs.values().filter(|d| !d.replica.is_stuck()).map(|d| d.replica.pending()).sum()
    }

    /// Records that the server refused `key` at `heads`; the edits stay.
    pub(crate) fn record_refusal(
        &self,
        key: &DocKey,
        heads: Vec<automerge::ChangeHash>,
        refusal: crate::ServerRefusal,
    ) -> Result<(), ClientError> {
        self.with(|inner| {
            let doc = inner.doc_or_new(key)?;
            doc.replica.meta.refusal = Some(RecordedRefusal { refusal, at: clock::now(), heads });
            inner.save_meta(key)
        })
    }
}
