//! Queues in front of contended work inside one server process. They only order work that
//! would otherwise collide; correctness never depends on them (several processes may share a
//! database, and the version check of every push still decides).
//!
//! - One document at a time: pushes to the same document wait for each other instead of all
//!   computing against the same base and all but one starting again. The phones' fast pushes
//!   that wait for a document together are then served together ([`crate::together`]).
//! - One SQLite writer at a time: SQLite allows one writing transaction, and a second one that
//!   finds the database locked sleeps in steps of up to 100 ms; waiting here in turn is fast.
//!   The pushes that wait for it share one transaction ([`crate::writer`]). PostgreSQL has no
//!   such limit.
//! - Computation (loading a document, admission, projections, snapshots) runs no more jobs at
//!   once than there are cores. Heavy jobs (loading a document, reading one whole) run on the
//!   blocking threads, so the async threads keep serving the network; short ones (a push's
//!   admission against records already read, its projection rows and snapshot: a few
//!   milliseconds) run where they are, since handing them to a blocking thread and back cost
//!   more than a tenth of a push's CPU (see docs/PERFORMANCE.md).
//! - A few pushes at a time (four per core) are past the door: loaded, admitted, waiting to be
//!   written. The rest wait before loading anything, holding only their request, so a burst of
//!   hundreds of phones does not hold hundreds of documents in memory at once; the few inside
//!   are enough to keep the cores and the database busy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use crate::db::Backend;
use crate::db::documents::DocKey;

#[derive(Debug)]
pub struct Gates {
    documents: Mutex<HashMap<DocKey, Arc<tokio::sync::Mutex<()>>>>,
    writes: Option<Arc<tokio::sync::Mutex<()>>>,
    cpu: Semaphore,
    pushes: Arc<Semaphore>,
}

impl Gates {
    pub fn new(backend: Backend) -> Gates {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Gates {
            documents: Mutex::default(),
            writes: (backend == Backend::Sqlite).then(Arc::default),
            cpu: Semaphore::new(cores),
            pushes: Arc::new(Semaphore::new(4 * cores)),
        }
    }

    /// Waits for the document to be free; it stays taken until the guard is dropped.
    pub async fn document(&self, key: &DocKey) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.documents.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 4096 {
                map.retain(|_, m| Arc::strong_count(m) > 1);
            }
            map.entry(key.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// How many hold the document or wait for it: for tests that hold a document while
    /// something else happens.
    #[doc(hidden)]
    pub fn users(&self, key: &DocKey) -> usize {
        let map = self.documents.lock().unwrap_or_else(|p| p.into_inner());
        // Each holder and waiter has a clone of the map's own.
        map.get(key).map_or(0, |m| Arc::strong_count(m) - 1)
    }

    /// Waits for a push's turn to go past the door (see the module documentation).
    pub async fn push(&self) -> OwnedSemaphorePermit {
        self.pushes.clone().acquire_owned().await.expect("the semaphore is never closed")
    }

    /// Waits for the database's write turn (SQLite), or nothing (PostgreSQL).
    pub async fn write(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.writes {
            Some(w) => Some(w.clone().lock_owned().await),
            None => None,
        }
    }

    /// Runs heavy computation on a blocking thread when a core is free.
    pub async fn cpu<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let _permit = self.cpu.acquire().await.expect("the semaphore is never closed");
        match tokio::task::spawn_blocking(f).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs a short computation (a few milliseconds) on this thread when a core is free.
    async fn cpu_short<R>(&self, f: impl FnOnce() -> R) -> R {
        let _permit = self.cpu.acquire().await.expect("the semaphore is never closed");
        f()
    }

    /// Runs `f` as [`Gates::cpu_short`] when `short`, else as [`Gates::cpu`].
    pub async fn cpu_if_short<R: Send + 'static>(&self, short: bool, f: impl FnOnce() -> R + Send + 'static) -> R {
        if short { self.cpu_short(f).await } else { self.cpu(f).await }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    use super::*;

    /// Short jobs run on the async threads that call them, yet together with the heavy ones on
    /// the blocking threads never more at once than there are cores.
    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn short_and_heavy_jobs_together_keep_to_the_cores() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let gates = Arc::new(Gates::new(Backend::Sqlite));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..32 {
            let (gates, running, most) = (gates.clone(), running.clone(), most.clone());
            tasks.spawn(async move {
                let job = move || {
                    most.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, SeqCst);
                };
                gates.cpu_if_short(i % 2 == 0, job).await;
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("the job ran");
        }
        let most = most.load(SeqCst);
        assert!(most <= cores, "{most} jobs ran at once on {cores} cores");
        assert!(most >= cores.min(2), "the jobs ran one at a time on {cores} cores");
    }
}
