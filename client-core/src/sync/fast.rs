//! The phone's side of the fast path: one request with every document's changes the server may
//! lack, one reply with what the phone lacks (or `Resync`, or a refusal) per document.

use automerge::Change;
use zhibu_schema::sync::{FAST_VERSION, FastCatalog, FastOutcome, FastRequest, hashes_from_wire};

use super::report::{DocOutcome, DocSyncReport, SyncEvent};
use super::transport::{Transport, TransportError};
use super::{Progress, Retrier, SyncOptions};
use crate::error::{ClientError, ServerRefusal};
use crate::{DocKey, Phone, clock};

/// The server takes at most this many documents per request.
pub(crate) const MAX_DOCS: usize = 64;

/// What one fast request settled.
pub(crate) struct Fast {
    /// The documents settled.
    pub done: Vec<DocSyncReport>,
    /// The documents that need the standard protocol, with the number of changes sent for them.
    pub resync: Vec<(DocKey, usize)>,
    /// The server said which catalog is in force: the phone's is now current.
    pub catalog_current: bool,
    /// The server sent a new catalog.
    pub catalog_updated: bool,
}

/// Syncs `keys` over the fast path. The request names the phone's catalog, so the reply also
/// says whether it is still the one in force (and brings the new one if not): a phone back
/// after weeks away need not ask for it separately.
pub(crate) async fn sync<T: Transport>(
    phone: &Phone,
    transport: &T,
    keys: &[DocKey],
    options: &SyncOptions,
    login: Option<&str>,
    progress: Progress<'_>,
) -> Result<Fast, ClientError> {
    let mut retrier = Retrier::new(&options.retry);
    let (response, sent) = loop {
        // Built afresh for every try: edits made meanwhile go along (those of the login the
        // transport carries only).
        let (request, sent) = {
            let inner = phone.lock();
            inner.same_login(login)?;
            inner.fast_request(keys)
        };
        progress(SyncEvent::SendingFast {
            docs: request.docs.len(),
            changes: sent.iter().map(|(_, n, _)| n).sum(),
            bytes: request.docs.iter().flat_map(|d| &d.changes).map(|c| c.len()).sum(),
        });
        match transport.fast_sync(request).await {
            Ok(response) => break (response, sent),
            // Refused as a request, not for its records: too large for the server or a proxy in
            // front of it (413), or no fast path there (404, 405, 415). The standard protocol,
            // a document at a time, takes over; nothing is recorded as refused.
            Err(TransportError::Refused(refusal)) if matches!(refusal.status, 404 | 405 | 413 | 415) => {
                tracing::info!(status = refusal.status, "fast path refused as a request; standard protocol instead");
                let resync = sent.into_iter().map(|(key, count, _)| (key, count)).collect();
                return Ok(Fast { done: Vec::new(), resync, catalog_current: false, catalog_updated: false });
            }
            Err(TransportError::Refused(refusal)) => {
                // The whole request was refused (400, 403): so was every document in it.
                let mut done = Vec::new();
                for (key, count, heads) in sent {
                    phone.record_refusal(&key, heads, refusal.clone())?;
                    done.push(report(key, DocOutcome::Refused(refusal.clone()), count, 0));
                }
                return Ok(Fast { done, resync: Vec::new(), catalog_current: false, catalog_updated: false });
            }
            Err(e) => retrier.failed(e, progress).await?,
        }
    };
    let mut done = Vec::new();
    let mut resync = Vec::new();
    for (key, count, heads) in sent {
        let reply = response.docs.iter().find(|r| r.village == key.village && r.year == key.year);
        match reply.map(|r| &r.outcome) {
            None | Some(FastOutcome::Resync) => resync.push((key, count)),
            Some(FastOutcome::Refused { status, code, message, violations }) => {
                let refusal = ServerRefusal {
                    status: *status,
                    code: code.clone(),
                    message: message.clone(),
                    violations: violations.clone(),
                };
                // A busy server's answer is no verdict on the edits: they wait, unrecorded.
                let outcome = DocOutcome::of_refusal(refusal);
                if let DocOutcome::Refused(refusal) = &outcome {
                    phone.record_refusal(&key, heads, refusal.clone())?;
                }
                done.push(report(key, outcome, count, 0));
            }
            Some(FastOutcome::Synced { heads: server_heads, changes }) => {
                let applied = (|| {
                    let server_heads = hashes_from_wire(server_heads).map_err(|e| bad_reply(&e.to_string()))?;
                    // Automerge panics on some malformed changes (zhibu_schema::guard): a broken
                    // reply must not crash the phone.
                    let changes = zhibu_schema::guard::catch(|| {
                        changes.iter().map(|c| Change::from_bytes(c.to_vec())).collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(|panic| bad_reply(&panic))?
                    .map_err(|e| bad_reply(&e.to_string()))?;
                    let received = changes.len();
                    phone.with(|inner| inner.apply_synced(&key, changes, server_heads))?;
                    Ok(received)
                })();
                match applied {
                    Ok(received) => {
                        if received > 0 {
                            progress(SyncEvent::Received { key: key.clone(), changes: received });
                        }
                        done.push(report(key, DocOutcome::Synced, count, received));
                    }
                    // One document's reply that does not read holds up none of the others: it
                    // is tried again at the next sync (the server has what was sent; it keeps
                    // each change once).
                    Err(ClientError::Offline(reason)) => done.push(report(key, DocOutcome::Later { reason }, count, 0)),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let (catalog_current, catalog_updated) = match response.catalog {
        Some(FastCatalog { catalog: Some(catalog), .. }) => {
            phone.set_catalog(catalog)?;
            (true, true)
        }
        Some(FastCatalog { catalog: None, .. }) => {
            phone.confirm_catalog()?;
            (true, false)
        }
        None => (false, false),
    };
    Ok(Fast { done, resync, catalog_current, catalog_updated })
}

fn report(key: DocKey, outcome: DocOutcome, sent: usize, received: usize) -> DocSyncReport {
    DocSyncReport { key, outcome, sent, received, standard: false }
}

fn bad_reply(detail: &str) -> ClientError {
    ClientError::Offline(format!("服务器的回复无法解析：{detail}"))
}

impl crate::phone::Inner {
    /// The fast request for `keys`, and per document what was sent: the key, the number of
    /// changes and the heads.
    fn fast_request(&self, keys: &[DocKey]) -> (FastRequest, Vec<(DocKey, usize, Vec<automerge::ChangeHash>)>) {
        let mut docs = Vec::new();
        let mut sent = Vec::new();
        for key in keys {
            let replica = &self.docs[key].replica;
            let doc = replica.fast_doc();
            sent.push((key.clone(), doc.changes.len(), replica.doc.get_heads()));
            docs.push(doc);
        }
        (FastRequest { v: FAST_VERSION, docs, catalog: Some(self.catalog.catalog.digest()) }, sent)
    }

    /// Applies what the server sent, durably, then records the server's heads.
    pub(crate) fn apply_synced(
        &mut self,
        key: &DocKey,
        changes: Vec<Change>,
        server_heads: Vec<automerge::ChangeHash>,
    ) -> Result<(), ClientError> {
        let doc = self.docs.get_mut(key).expect("a document of the request");
        let new = doc.replica.apply(changes).map_err(|e| bad_reply(&e))?;
        if let Some(bytes) = new {
            self.persist(key, &bytes)?;
        }
        let meta = &mut self.docs.get_mut(key).expect("still there").replica.meta;
        meta.sync_state.shared_heads.clone_from(&server_heads);
        meta.server_heads = server_heads;
        meta.last_sync = Some(clock::now());
        meta.refusal = None;
        self.save_meta(key)
    }
}

impl From<TransportError> for ClientError {
    fn from(e: TransportError) -> ClientError {
        match e {
            TransportError::Network(m) => ClientError::Offline(m),
            TransportError::Unauthorized(m) => ClientError::SessionExpired(m),
            TransportError::Refused(r) => ClientError::ServerRefused(r),
        }
    }
}
