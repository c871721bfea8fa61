//! Writing pushes to the database. On PostgreSQL each push commits its own transaction (the
//! database takes many writers at once). SQLite takes one writer at a time, and a push spent
//! most of its turn on what every transaction pays (begin, commit, the WAL's sync to disk)
//! while the others waited: the pushes waiting for the writer now go in one transaction
//! (group commit), each under a savepoint of its own.
//!
//! A push under a savepoint is kept or undone alone: one that lost its version to another push
//! or was refused (an actor of another account) is rolled back to its savepoint and answered
//! at once; the others go on. A push is answered `Ok(true)` only after the shared transaction
//! commits, so an acknowledged write is a durable one; when the transaction itself fails,
//! every push in it is answered with that error and nothing of any is kept.
//!
//! The batches are made by a thread of its own that takes whatever waits when the writer is
//! free: under no load a push is written alone, as before; under a burst they share commits.
//! A sync that brings no changes (a phone that only pulls) records the device's sync the same
//! way, so a burst of those shares commits too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};

use crate::db::sink::Sink;
use crate::db::{Backend, Db};
use crate::error::{AppError, AppResult};
use crate::gates::Gates;
use crate::push::{Write, write_one};
use crate::state::AppState;

/// At most this many pushes share a transaction.
const MAX_BATCH: usize = 32;

/// Where a push's outcome goes.
type Reply = oneshot::Sender<AppResult<bool>>;

type Job = (Write, Reply);

/// The queue to the SQLite writer, started at the first push.
#[derive(Debug, Default)]
pub struct Writer {
    queue: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Pushes in the queue, not yet taken by the writer.
    waiting: AtomicUsize,
    /// The most pushes one transaction has held.
    largest: AtomicUsize,
}

/// Stores a push: `Ok(false)` when another push moved the document on first (nothing stored).
pub async fn store(state: &AppState, write: Write) -> AppResult<bool> {
    if state.db.backend == Backend::Postgres {
        let mut tx = state.db.pool.begin().await?;
        let stored = write_one(&mut tx, &write).await?;
        if stored {
            tx.commit().await?;
        }
        return Ok(stored);
    }
    let (reply, answer) = oneshot::channel();
    let queue = state.writer.queue(state)?;
    state.writer.counts.waiting.fetch_add(1, Ordering::Relaxed);
    if queue.send((write, reply)).is_err() {
        state.writer.counts.waiting.fetch_sub(1, Ordering::Relaxed);
        return Err(stopped());
    }
    answer.await.map_err(|_| stopped())?
}

fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the database writer stopped"))
}

impl Writer {
    /// Pushes waiting for the writer (not counting those it is writing).
    pub fn waiting(&self) -> usize {
        self.counts.waiting.load(Ordering::Relaxed)
    }

    /// The most pushes one transaction has held so far.
    pub fn largest_batch(&self) -> usize {
        self.counts.largest.load(Ordering::Relaxed)
    }

    /// The writer's queue, starting the writer when there is none (or it stopped).
    fn queue(&self, state: &AppState) -> AppResult<mpsc::UnboundedSender<Job>> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = &*queue
            && !q.is_closed()
        {
            return Ok(q.clone());
        }
        let (send, receive) = mpsc::unbounded_channel();
        // The writer drives its statements from a thread of its own, on a runtime of its own.
        // On the server's async threads each statement's answer waited for a thread to come
        // free, and under a burst both were busy admitting pushes (a millisecond or two each):
        // the writer, which every push goes through in turn, was held up most (PERFORMANCE.md).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("the database writer's runtime: {e}")))?;
        let task = run(state.db.clone(), state.gates.clone(), self.counts.clone(), receive);
        std::thread::Builder::new()
            .name("zhibu-writer".into())
            .spawn(move || runtime.block_on(task))
            .map_err(|e| AppError::Internal(anyhow::anyhow!("the database writer's thread: {e}")))?;
        *queue = Some(send.clone());
        Ok(send)
    }
}

/// The writer task: when the writer's turn comes, whatever waits, in one transaction; until
/// the queue closes.
///
/// The task has one SQLite connection of its own, outside sqlx's pool, and runs SQLite on its
/// thread itself ([`crate::db::sink`]): in WAL mode a connection throws its whole page cache
/// away when it begins a transaction after another connection wrote, so with one connection
/// doing all the pushes' writing its cache stays valid from batch to batch. It is opened at the
/// first batch and closed when the pool closes (the database is being shut), or after a batch
/// failed as a whole (the next batch opens another).
async fn run(db: Db, gates: Arc<Gates>, counts: Arc<Counts>, mut receive: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<rusqlite::Connection> = None;
    loop {
        let first = tokio::select! {
            job = receive.recv() => job,
            () = db.pool.close_event(), if conn.is_some() => {
                conn = None;
                continue;
            }
        };
        let Some(first) = first else { break };
        counts.waiting.fetch_sub(1, Ordering::Relaxed);
        let _turn = gates.write().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(job) = receive.try_recv()
        {
            counts.waiting.fetch_sub(1, Ordering::Relaxed);
            batch.push(job);
        }
        counts.largest.fetch_max(batch.len(), Ordering::Relaxed);
        let c = match &mut conn {
            Some(c) => c,
            None => match open(&db) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    fail(batch.into_iter().map(|(_, r)| r), &AppError::Unavailable(format!("{e:#}")));
                    continue;
                }
            },
        };
        if let Err((owed, e)) = write_batch(c, batch).await {
            fail(owed.into_iter(), &e.into());
            conn = None;
        }
    }
}

/// Statements the writer keeps prepared: a push's dozen, in as many forms as the numbers of
/// rows its multi-row statements take.
const PREPARED: usize = 256;

/// The writer's connection, set as the pool's are ([`Db::connect`]).
fn open(db: &Db) -> anyhow::Result<rusqlite::Connection> {
    let file = db.sqlite_file.as_deref().context("SQLite's writer without a database file")?;
    let conn = rusqlite::Connection::open_with_flags(file, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("while opening {} for the writer", file.display()))?;
    conn.execute_batch(crate::db::SQLITE_PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(PREPARED);
    Ok(conn)
}

/// Writes the pushes of a batch in one transaction and answers each. When the transaction
/// fails as a whole, the pushes not yet answered come back with the error: nothing of any of
/// them is kept.
async fn write_batch(conn: &mut rusqlite::Connection, batch: Vec<Job>) -> Result<(), (Vec<Reply>, anyhow::Error)> {
    // IMMEDIATE: the write lock from the start, so a batch never has to upgrade a read it
    // began (in WAL mode, a transaction that read an older state may not write at all).
    if let Err(e) = conn.exec("BEGIN IMMEDIATE", &[]).await {
        return Err((batch.into_iter().map(|(_, r)| r).collect(), e));
    }
    let mut kept = Vec::new();
    let mut jobs = batch.into_iter();
    while let Some((write, reply)) = jobs.next() {
        match savepointed(conn, &write).await {
            Ok(Ok(true)) => kept.push(reply),
            Ok(other) => {
                let _ = reply.send(other);
            }
            Err(e) => {
                // The transaction itself can no longer be used.
                kept.push(reply);
                kept.extend(jobs.map(|(_, r)| r));
                let _ = conn.execute_batch("ROLLBACK");
                return Err((kept, e));
            }
        }
    }
    if let Err(e) = conn.exec("COMMIT", &[]).await {
        let _ = conn.execute_batch("ROLLBACK");
        return Err((kept, e));
    }
    for reply in kept {
        let _ = reply.send(Ok(true));
    }
    Ok(())
}

/// One push under a savepoint: its outcome, its writes kept only for `Ok(true)`. `Err` when
/// the savepoint itself failed.
async fn savepointed(conn: &mut rusqlite::Connection, write: &Write) -> anyhow::Result<AppResult<bool>> {
    conn.exec("SAVEPOINT push", &[]).await?;
    let outcome = write_one(conn, write).await;
    if !matches!(outcome, Ok(true)) {
        conn.exec("ROLLBACK TO push", &[]).await?;
    }
    conn.exec("RELEASE push", &[]).await?;
    Ok(outcome)
}

/// Answers every waiting request with the same error.
pub(crate) fn fail<T>(replies: impl Iterator<Item = oneshot::Sender<AppResult<T>>>, e: &AppError) {
    for reply in replies {
        let _ = reply.send(Err(e.again()));
    }
}
