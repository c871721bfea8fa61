//! The background sync task: the app starts it once, and it syncs by itself whenever edits are
//! waiting and the server answers, so nobody has to press "send" again when the signal returns.
//!
//! The loop: sync at start; then sync again after every edit (the phone wakes the task), and
//! every `poll_every` even without edits, to fetch the other cadres' work. When the server is
//! out of reach it probes again after a wait that doubles, with jitter, from `min_backoff` to
//! `max_backoff`; the app may cut a wait short with [`SyncTask::wake`] when the OS reports that
//! the network came back. A document the server refused is not sent again until it changes. A
//! store that failed to write (a full disk) is tried again after the same doubling wait. An
//! expired login, damaged files or a store that cannot be read again end the task with that
//! error.

use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::report::SyncEvent;
use super::transport::Transport;
use super::{Backoff, SyncOptions};
use crate::Phone;
use crate::error::{ClientError, ErrorKind};
use std::sync::Arc;

/// When the background task syncs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Sync this often even with no edits waiting (to receive others' edits).
    pub poll_every: Duration,
    /// The first wait before probing an unreachable server again.
    pub min_backoff: Duration,
    /// The longest wait between probes.
    pub max_backoff: Duration,
    /// How each sync runs (retries inside one sync; the task does its own backoff).
    pub sync: SyncOptions,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll_every: Duration::from_secs(10 * 60),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5 * 60),
            sync: SyncOptions::no_retry(),
        }
    }
}

/// A running background sync task; see the module documentation.
#[derive(Debug)]
pub struct SyncTask {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    /// None once the task's end has been collected.
    handle: Option<JoinHandle<Result<(), ClientError>>>,
}

impl SyncTask {
    /// Probe the server now, e.g. because the OS reports that the network is back.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether the task has ended (by itself: an expired login, a store failure; or stopped).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the task (a sync in progress is abandoned; what it stored stays) and returns how
    /// it ended.
    pub async fn stop(mut self) -> Result<(), ClientError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the task ends by itself, and returns why (Ok if it was already collected).
    /// Safe to cancel: dropping the future leaves the task running.
    pub async fn wait(&mut self) -> Result<(), ClientError> {
        let Some(handle) = self.handle.as_mut() else { return Ok(()) };
        let ended = handle.await;
        self.handle = None;
        match ended {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(ClientError::Internal(format!("后台同步任务异常结束：{e}"))),
        }
    }
}

impl Phone {
    /// Starts the background sync task on the current tokio runtime; `on_event` gets every
    /// progress event. Must be called from inside a runtime.
    pub fn start_sync_task<T: Transport + 'static>(
        &self,
        transport: T,
        options: WatchOptions,
        mut on_event: impl FnMut(SyncEvent) + Send + 'static,
    ) -> SyncTask {
        let (stop, mut stopped) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let phone = self.clone();
        let woken = wake.clone();
        // The login the transport was made with: another account's edits must not go out
        // with this login's token (the server would bind their actor to this account).
        let login = self.session().map(|s| s.token);
        let handle = tokio::spawn(async move {
            let mut backoff = Backoff::new(options.min_backoff, options.max_backoff, None);
            let mut next_poll = Instant::now();
            loop {
                if phone.session().map(|s| s.token) != login {
                    return Err(ClientError::SessionExpired("登录已变更或已退出，后台同步已停止".to_owned()));
                }
                if phone.sync_due() > 0 || Instant::now() >= next_poll {
                    let sync = phone.sync(&transport, &options.sync, &mut on_event);
                    let result = tokio::select! {
                        r = sync => r,
                        _ = stopped.changed() => return Ok(()),
                    };
                    let wait = backoff.next_wait().unwrap_or(options.max_backoff);
                    let retry = match result {
                        Ok(report) => match report.later().next() {
                            // The server could not take some document this time: its edits
                            // wait, and are tried again after the doubling wait, not at once.
                            Some((key, reason)) => {
                                Some(SyncEvent::Offline { error: format!("{key}：{reason}"), retry_in: wait })
                            }
                            None => {
                                backoff.reset();
                                next_poll = Instant::now() + options.poll_every;
                                None
                            }
                        },
                        Err(ClientError::Offline(error)) => Some(SyncEvent::Offline { error, retry_in: wait }),
                        Err(e) if e.kind() == ErrorKind::Offline => {
                            Some(SyncEvent::Offline { error: e.to_string(), retry_in: wait })
                        }
                        // The store failed to write (a full disk, the store busy): the edits
                        // are safe where they were, and the cadre may free space at any time:
                        // tried again after the same doubling wait as when offline.
                        Err(e @ ClientError::Store(_)) => Some(SyncEvent::Failed { error: e.to_string() }),
                        Err(e) if matches!(e.kind(), ErrorKind::NotLoggedIn | ErrorKind::Store) => return Err(e),
                        Err(e) => {
                            // The server answered: the line works.
                            backoff.reset();
                            on_event(SyncEvent::Failed { error: e.to_string() });
                            next_poll = Instant::now() + options.poll_every;
                            None
                        }
                    };
                    if let Some(event) = retry {
                        on_event(event);
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = woken.notified() => {}
                            _ = stopped.changed() => return Ok(()),
                        }
                        continue;
                    }
                }
                tokio::select! {
                    _ = phone.edited().notified() => {}
                    _ = woken.notified() => next_poll = Instant::now(),
                    _ = tokio::time::sleep_until(next_poll) => {}
                    _ = stopped.changed() => return Ok(()),
                }
            }
        });
        SyncTask { stop, wake, handle: Some(handle) }
    }
}
