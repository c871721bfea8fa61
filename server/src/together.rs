//! Fast pushes to one document that wait for it together are admitted and stored together.
//!
//! A document takes one push at a time (its gate, [`crate::gates`]). The pushes that queue
//! for it meanwhile (the village's other phones, reconnecting in the same minutes) are served
//! by the next holder of the gate as one: their changes applied to the document in one go,
//! the result read and checked once, its projection rows and new version stored in one
//! savepoint, and every phone answered with everything it lacks, the others' changes among
//! them. Automerge took three times as long to apply a phone's month after another phone's
//! month made offline at the same time as to apply the first; together they take little more
//! than one (docs/PERFORMANCE.md).
//!
//! What is stored does not depend on it: when the pushes cannot be admitted as one (one of
//! them would be refused or asked to resync, the document with all of them breaks a rule, the
//! database refuses one of their actors), each is admitted alone, in the order they came,
//! exactly as without this.
//!
//! The pushes a holder takes are served by a task of their own, so a phone that hangs up does
//! not stop the others' answers; a push whose phone hung up before its turn is dropped from
//! the queue, as before.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, oneshot};
use zhibu_schema::Catalog;
use zhibu_schema::sync::{FastDoc, FastOutcome};

use crate::admission::Pusher;
use crate::db::documents::DocKey;
use crate::error::{AppError, AppResult};
use crate::push::{self, Push, Sender};
use crate::state::AppState;

/// At most this many pushes are admitted together.
const MOST: usize = 8;

/// How often a push is recomputed when other pushes to the same document (of another server
/// process) keep storing first; then it is answered "busy".
pub(crate) const ATTEMPTS: usize = 8;

/// One fast push waiting for its document.
#[derive(Debug)]
struct Waiting {
    id: u64,
    doc: FastDoc,
    account: String,
    peer: String,
    /// The actors the caller holds.
    mine: HashSet<String>,
    reply: oneshot::Sender<AppResult<FastOutcome>>,
}

impl Waiting {
    fn pusher(&self) -> Pusher<'_> {
        Pusher { account: &self.account, mine: &self.mine }
    }
}

/// The fast pushes waiting for their documents, by document.
#[derive(Debug, Default)]
pub struct Queues {
    waiting: Mutex<HashMap<DocKey, Vec<Waiting>>>,
    next_id: AtomicU64,
    largest: AtomicUsize,
}

impl Queues {
    /// How many fast pushes wait for the document `key`.
    pub fn waiting(&self, key: &DocKey) -> usize {
        self.lock().get(key).map_or(0, Vec::len)
    }

    /// The most pushes admitted and stored together so far.
    pub fn largest(&self) -> usize {
        self.largest.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DocKey, Vec<Waiting>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Up to `most` of the pushes waiting for `key`, first come first, the push `holder` among
    /// them while it waits: the gate's order and the queue's can differ, and the holder, whose
    /// phone waits on it, may be the only one left to serve its push.
    fn take(&self, key: &DocKey, most: usize, holder: u64) -> Vec<Waiting> {
        let mut map = self.lock();
        let Some(queue) = map.get_mut(key) else { return Vec::new() };
        let own = queue.iter().position(|w| w.id == holder).filter(|&at| at >= most).map(|at| queue.remove(at));
        let mut taken: Vec<Waiting> = queue.drain(..(most - usize::from(own.is_some())).min(queue.len())).collect();
        taken.extend(own);
        if queue.is_empty() {
            map.remove(key);
        }
        taken
    }
}

/// Removes a push from its queue when its phone hangs up before the push was taken.
struct Queued<'a> {
    queues: &'a Queues,
    key: &'a DocKey,
    id: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut map = self.queues.lock();
        if let Some(queue) = map.get_mut(self.key) {
            queue.retain(|w| w.id != self.id);
            if queue.is_empty() {
                map.remove(self.key);
            }
        }
    }
}

/// What a fast push brings for one document, and who sent it.
#[derive(Debug)]
pub struct FastPush<'a> {
    pub key: &'a DocKey,
    pub doc: &'a FastDoc,
    pub account: &'a str,
    pub peer: &'a str,
    /// The actors the caller holds.
    pub mine: &'a HashSet<String>,
}

/// Admits and stores one document of a fast request, with the other pushes that wait for the
/// document at the same time: its outcome once stored, refused, or to resync.
pub async fn fast(state: &AppState, p: FastPush<'_>) -> AppResult<FastOutcome> {
    let (reply, mut answer) = oneshot::channel();
    let id = state.together.next_id.fetch_add(1, Ordering::Relaxed);
    let waiting = Waiting {
        id,
        doc: p.doc.clone(),
        account: p.account.to_owned(),
        peer: p.peer.to_owned(),
        mine: p.mine.clone(),
        reply,
    };
    state.together.lock().entry(p.key.clone()).or_default().push(waiting);
    let _queued = Queued { queues: &state.together, key: p.key, id };
    // Served by an earlier holder of the document, or holding it now.
    let document = tokio::select! {
        biased;
        served = &mut answer => return answered(served),
        document = state.gates.document(p.key) => document,
    };
    if state.together.waiting(p.key) > 0 {
        tokio::spawn(serve(state.clone(), p.key.clone(), id, document));
    } else {
        // Every push that waited was served by the holders before: this one's answer is in.
        drop(document);
    }
    answered(answer.await)
}

fn answered(served: Result<AppResult<FastOutcome>, oneshot::error::RecvError>) -> AppResult<FastOutcome> {
    served.unwrap_or_else(|_| Err(AppError::Internal(anyhow::anyhow!("a push's turn ended without an answer"))))
}

/// Serves the pushes waiting for the document `key`, which this task holds (`_document`) for
/// the push `holder`.
async fn serve(state: AppState, key: DocKey, holder: u64, _document: OwnedMutexGuard<()>) {
    let _door = state.gates.push().await;
    // Taken past the door: the pushes that came while this one waited there go too.
    let pushes = state.together.take(&key, MOST, holder);
    if pushes.len() > 1 {
        match as_one(&state, &key, &pushes).await {
            Ok(Some(outcomes)) => {
                state.together.largest.fetch_max(pushes.len(), Ordering::Relaxed);
                for (w, outcome) in pushes.into_iter().zip(outcomes) {
                    let _ = w.reply.send(Ok(outcome));
                }
                return;
            }
            Ok(None) => {}
            Err(e) => return crate::writer::fail(pushes.into_iter().map(|w| w.reply), &e),
        }
    }
    for w in pushes {
        let outcome = alone(&state, &key, &w).await;
        let _ = w.reply.send(outcome);
    }
}

/// Admits and stores the pushes as one: their outcomes, or `None` when each must be admitted
/// alone.
async fn as_one(state: &AppState, key: &DocKey, pushes: &[Waiting]) -> AppResult<Option<Vec<FastOutcome>>> {
    let members: Vec<(&FastDoc, Pusher<'_>)> = pushes.iter().map(|w| (&w.doc, w.pusher())).collect();
    for _ in 0..ATTEMPTS {
        let mut base = state.load_doc(key).await?;
        let catalog = &catalog_after(state, key).await?;
        let Some(together) = crate::admission::fast_together(state, key, &mut base, &members, catalog).await else {
            return Ok(None);
        };
        let mut outcomes = Vec::with_capacity(pushes.len());
        let mut senders = Vec::with_capacity(pushes.len());
        for (w, share) in pushes.iter().zip(together.shares) {
            let (changes, bind) = (share.changes, share.bind);
            senders.push(Sender { account: &w.account, peer: Some(&w.peer), sync_state: None, changes, bind });
            outcomes.push(share.outcome);
        }
        let push = Push { key, base: &base, accepted: together.accepted, catalog, senders };
        match push::store(state, push).await {
            Ok(true) => return Ok(Some(outcomes)),
            Ok(false) => {}
            // The database refused one of them (an actor another account holds): one at a
            // time says which.
            Err(AppError::Client { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Admits and stores one push alone.
async fn alone(state: &AppState, key: &DocKey, w: &Waiting) -> AppResult<FastOutcome> {
    let pusher = w.pusher();
    for _ in 0..ATTEMPTS {
        let mut base = state.load_doc(key).await?;
        let catalog = &catalog_after(state, key).await?;
        let Some((accepted, outcome)) = crate::admission::fast(state, key, &mut base, &w.doc, catalog, pusher).await?
        else {
            return Ok(FastOutcome::Resync);
        };
        let senders = vec![Sender::only(&w.account, Some(&w.peer), None, &accepted)];
        let push = Push { key, base: &base, accepted, catalog, senders };
        if push::store(state, push).await? {
            return Ok(outcome);
        }
    }
    Err(AppError::busy())
}

/// The catalog in force for the document `key`'s township, read after the document is: a new
/// catalog set meanwhile (`admin set-catalog`, from another process) makes the document's
/// figures again and so its version, so a push checked against the catalog it read after the
/// version it builds on is never stored over figures of a newer catalog.
pub(crate) async fn catalog_after(state: &AppState, key: &DocKey) -> AppResult<Arc<Catalog>> {
    state.catalog_for(Some(&key.township)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue_of(key: &DocKey, n: u64) -> Queues {
        let queues = Queues::default();
        let doc =
            FastDoc { village: key.village.clone(), year: key.year, known: vec![], heads: vec![], changes: vec![] };
        let mut map = queues.lock();
        for id in 0..n {
            let (reply, _) = oneshot::channel();
            let waiting =
                Waiting { id, doc: doc.clone(), account: "a".into(), peer: "p".into(), mine: HashSet::new(), reply };
            map.entry(key.clone()).or_default().push(waiting);
        }
        drop(map);
        queues
    }

    #[test]
    fn the_holder_is_served_with_the_first_come_however_late_it_queued() {
        let key = DocKey {
            township: "t1".into(),
            village: zhibu_schema::VillageId::parse("v1").expect("id"),
            year: zhibu_schema::Year::new(2026).expect("year"),
        };
        let ids = |taken: Vec<Waiting>| taken.iter().map(|w| w.id).collect::<Vec<_>>();
        // The holder ninth in the queue: the first seven come, and then the holder.
        let queues = queue_of(&key, 10);
        assert_eq!(ids(queues.take(&key, MOST, 8)), [0, 1, 2, 3, 4, 5, 6, 8]);
        assert_eq!(ids(queues.take(&key, MOST, 99)), [7, 9], "the rest, in their order");
        assert_eq!(queues.waiting(&key), 0);
        // Among the first eight, or served already: the first eight.
        let queues = queue_of(&key, 10);
        assert_eq!(ids(queues.take(&key, MOST, 3)), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(ids(queues.take(&key, MOST, 3)), [8, 9]);
    }
}
