//! The phone's side of the standard Automerge sync protocol over
//! `POST /v1/villages/V/years/Y/sync`: send a message, apply the reply, until neither side has
//! anything more to say (the phone has no message to send, or the server answers 204).
//!
//! A session starts from the persisted state (the shared heads of the last sync), so a
//! reconnect sends only what is new. A session cut short by the network starts again from the
//! persisted state; what either side already received is not sent twice in effect, as changes
//! are identified by hash.

use automerge::sync::{self, SyncDoc};

use super::report::SyncEvent;
use super::transport::{Transport, TransportError};
use super::{Progress, Retrier, SyncOptions};
use crate::error::{ClientError, ServerRefusal};
use crate::phone::Inner;
use crate::{DocKey, Phone, clock};

/// Syncs one document; the number of changes received, or the server's refusal.
pub(crate) async fn sync<T: Transport>(
    phone: &Phone,
    transport: &T,
    key: &DocKey,
    options: &SyncOptions,
    login: Option<&str>,
    progress: Progress<'_>,
) -> Result<Result<usize, ServerRefusal>, ClientError> {
    let mut retrier = Retrier::new(&options.retry);
    'session: loop {
        let mut state = phone.lock().persisted_state(key);
        let mut received = 0;
        for round in 1..=options.max_rounds {
            // The message and the heads it carries, read together: an edit made between the
            // two would otherwise count as refused without having been sent.
            let (message, heads) = {
                let inner = phone.lock();
                inner.same_login(login)?;
                let doc = &inner.docs[key].replica.doc;
                // The state holds the server's last message (its Bloom filter), on which
                // Automerge can panic when it is malformed: that ends the session, not the app.
                let message = zhibu_schema::guard::catch(|| doc.generate_sync_message(&mut state))
                    .map_err(|e| ClientError::Offline(format!("服务器的回复无法解析：{e}")))?;
                (message, doc.get_heads())
            };
            let Some(message) = message else {
                phone.with(|inner| inner.finish_standard(key, &state))?;
                return Ok(Ok(received));
            };
            let bytes = message.encode();
            progress(SyncEvent::StandardRound { key: key.clone(), round, bytes: bytes.len() });
            match transport.sync_message(key, bytes).await {
                Ok(Some(reply)) => match phone.with(|inner| inner.receive_standard(key, &mut state, &reply)) {
                    Ok(n) => {
                        received += n;
                        if n > 0 {
                            progress(SyncEvent::Received { key: key.clone(), changes: n });
                        }
                    }
                    Err(ClientError::Offline(e)) => {
                        retrier.failed(TransportError::Network(e), progress).await?;
                        continue 'session;
                    }
                    Err(e) => return Err(e),
                },
                // The server has nothing more to send, and has our heads (API-EXTENSIONS.md: it
                // answers 204 only to a peer in step): they are shared, and the edits in them
                // delivered. The next message, if any, says so.
                Ok(None) => {
                    state.shared_heads = heads;
                    state.their_heads = Some(state.shared_heads.clone());
                }
                Err(TransportError::Refused(refusal)) => {
                    // The server stored nothing, its state for us included: the persisted
                    // state stays as it was.
                    phone.record_refusal(key, heads, refusal.clone())?;
                    return Ok(Err(refusal));
                }
                Err(e) => {
                    retrier.failed(e, progress).await?;
                    continue 'session;
                }
            }
        }
        return Err(ClientError::Offline(format!("与服务器同步 {key} 未能在 {} 轮内完成", options.max_rounds)));
    }
}

impl Inner {
    /// The standard protocol's state as persisted: the shared heads, nothing of a session.
    fn persisted_state(&self, key: &DocKey) -> sync::State {
        sync::State::decode(&self.docs[key].replica.meta.sync_state.encode()).unwrap_or_default()
    }

    /// Applies one reply of the server, durably; the number of changes that were new.
    fn receive_standard(&mut self, key: &DocKey, state: &mut sync::State, reply: &[u8]) -> Result<usize, ClientError> {
        let bad = |e: &dyn std::fmt::Display| ClientError::Offline(format!("服务器的回复无法解析：{e}"));
        let message =
            zhibu_schema::guard::catch(|| sync::Message::decode(reply)).map_err(|e| bad(&e))?.map_err(|e| bad(&e))?;
        let replica = &mut self.docs.get_mut(key).expect("a document being synced").replica;
        let before = replica.doc.get_heads();
        let mut next_state = state.clone();
        replica
            .guarded(|doc| doc.receive_sync_message(&mut next_state, message).map_err(|e| e.to_string()))
            .map_err(|e| bad(&e))?;
        *state = next_state;
        let new = replica.doc.get_changes(&before).len();
        if let Some(bytes) = replica.new_since(&before) {
            self.persist(key, &bytes)?;
        }
        let meta = &mut self.docs.get_mut(key).expect("still there").replica.meta;
        if meta.sync_state.shared_heads != state.shared_heads {
            meta.sync_state.shared_heads.clone_from(&state.shared_heads);
            self.save_meta(key)?;
        }
        Ok(new)
    }

    /// Both sides are quiet: remember the server's heads and the time.
    fn finish_standard(&mut self, key: &DocKey, state: &sync::State) -> Result<(), ClientError> {
        let replica = &mut self.docs.get_mut(key).expect("a document being synced").replica;
        let has_all = |hs: &[automerge::ChangeHash]| crate::replica::present(&replica.doc, hs).len() == hs.len();
        let server_heads = match &state.their_heads {
            Some(theirs) if has_all(theirs) => theirs.clone(),
            _ => state.shared_heads.clone(),
        };
        let meta = &mut replica.meta;
        meta.server_heads = server_heads;
        meta.sync_state.shared_heads.clone_from(&state.shared_heads);
        meta.last_sync = Some(clock::now());
        meta.refusal = None;
        self.save_meta(key)
    }
}
