//! A network between phones and the in-process [`Server`]: every request waits in a queue, and
//! a scheduler delivers the waiting requests in random order, dropping some requests, dropping
//! some replies (the server acted, the phone never hears of it), delivering some twice, and
//! keeping copies to deliver again much later (stale duplicates).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinSet;
use zhibu_client::zhibu_schema::Catalog;
use zhibu_client::zhibu_schema::sync::{FastRequest, FastResponse};
use zhibu_client::{DocKey, Transport, TransportError};

use super::server::Server;

#[derive(Debug, Clone)]
pub enum Request {
    Fast(FastRequest),
    Standard(DocKey, Vec<u8>),
    Doc(DocKey),
}

#[derive(Debug)]
pub enum Reply {
    Fast(FastResponse),
    Standard(Option<Vec<u8>>),
    Doc(Option<Vec<u8>>),
}

/// What happens to one delivered request, when scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Deliver,
    DropRequest,
    DropReply,
    Duplicate,
}

/// How unreliable the network is, each a probability per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub drop_request: f64,
    pub drop_reply: f64,
    pub duplicate: f64,
}

struct Waiting {
    account: String,
    peer: String,
    request: Request,
    reply: oneshot::Sender<Result<Reply, TransportError>>,
}

#[derive(Default)]
pub struct Stats {
    pub delivered: usize,
    pub dropped_requests: usize,
    pub dropped_replies: usize,
    pub duplicated: usize,
    pub replayed: usize,
    /// Requests of the standard protocol delivered.
    pub standard: usize,
}

struct NetState {
    server: Server,
    queue: Vec<Waiting>,
    faults: Faults,
    /// Faults for the next deliveries, in order, before the probabilities apply.
    script: std::collections::VecDeque<Fault>,
    /// Set while the network is down: every request fails at once.
    down: bool,
    sent: Vec<(String, String, Request)>,
    rng: fastrand::Rng,
    stats: Stats,
}

/// The network; clone it freely.
#[derive(Clone)]
pub struct Net(Arc<Mutex<NetState>>);

/// One phone's end of the network: a [`Transport`].
#[derive(Clone)]
pub struct Port {
    net: Net,
    account: String,
    peer: String,
}

impl Net {
    pub fn new(server: Server, seed: u64) -> Net {
        Net(Arc::new(Mutex::new(NetState {
            server,
            queue: Vec::new(),
            faults: Faults::default(),
            script: Default::default(),
            down: false,
            sent: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
            stats: Stats::default(),
        })))
    }

    pub fn port(&self, account: &str, peer: &str) -> Port {
        Port { net: self.clone(), account: account.to_owned(), peer: peer.to_owned() }
    }

    /// The port of a logged-in phone.
    pub fn port_of(&self, phone: &zhibu_client::Phone) -> Port {
        let session = phone.session().expect("a logged-in phone");
        self.port(session.account.id.as_str(), phone.device().peer_id())
    }

    pub fn set_faults(&self, faults: Faults) {
        self.0.lock().unwrap().faults = faults;
    }

    /// The faults of the next deliveries, in order.
    pub fn script(&self, faults: &[Fault]) {
        self.0.lock().unwrap().script.extend(faults.iter().copied());
    }

    /// Delivers requests as they come, in the background, until the returned task is aborted
    /// (for tests of the background sync task).
    pub fn spawn_pump(&self) -> tokio::task::JoinHandle<()> {
        let net = self.clone();
        tokio::spawn(async move {
            loop {
                if !net.deliver_one() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        })
    }

    pub fn set_down(&self, down: bool) {
        self.0.lock().unwrap().down = down;
    }

    pub fn server<R>(&self, f: impl FnOnce(&mut Server) -> R) -> R {
        f(&mut self.0.lock().unwrap().server)
    }

    pub fn stats<R>(&self, f: impl FnOnce(&Stats) -> R) -> R {
        f(&self.0.lock().unwrap().stats)
    }

    async fn submit(&self, account: &str, peer: &str, request: Request) -> Result<Reply, TransportError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.0.lock().unwrap();
            if s.down {
                return Err(TransportError::Network("网络不通".into()));
            }
            s.queue.push(Waiting { account: account.into(), peer: peer.into(), request, reply: tx });
        }
        rx.await.unwrap_or_else(|_| Err(TransportError::Network("连接中断".into())))
    }

    /// Delivers one waiting request, chosen at random, with the configured faults; false when
    /// none is waiting.
    pub fn deliver_one(&self) -> bool {
        let mut guard = self.0.lock().unwrap();
        let s = &mut *guard;
        if s.queue.is_empty() {
            return false;
        }
        let i = s.rng.usize(..s.queue.len());
        let w = s.queue.swap_remove(i);
        let f = s.faults;
        s.sent.push((w.account.clone(), w.peer.clone(), w.request.clone()));
        let scripted = s.script.pop_front();
        let rng = &mut s.rng;
        let mut roll = |p: f64, fault: Fault| match scripted {
            Some(x) => x == fault,
            None => rng.f64() < p,
        };
        let (drop_request, duplicate, drop_reply) = (
            roll(f.drop_request, Fault::DropRequest),
            roll(f.duplicate, Fault::Duplicate),
            roll(f.drop_reply, Fault::DropReply),
        );
        if drop_request {
            s.stats.dropped_requests += 1;
            let _ = w.reply.send(Err(TransportError::Network("请求丢失".into())));
            return true;
        }
        let mut result = handle(&mut s.server, &w.account, &w.peer, &w.request);
        if duplicate {
            s.stats.duplicated += 1;
            result = handle(&mut s.server, &w.account, &w.peer, &w.request);
        }
        if drop_reply {
            s.stats.dropped_replies += 1;
            result = Err(TransportError::Network("回复丢失".into()));
        }
        s.stats.delivered += 1;
        s.stats.standard += usize::from(matches!(w.request, Request::Standard(..)));
        let _ = w.reply.send(result);
        true
    }

    /// Delivers again a request sent earlier (the `n`th modulo how many were sent), ignoring
    /// the reply: a stale duplicate arriving late.
    pub fn replay(&self, n: usize) {
        let mut s = self.0.lock().unwrap();
        if s.sent.is_empty() {
            return;
        }
        let (account, peer, request) = s.sent[n % s.sent.len()].clone();
        let _ = handle(&mut s.server, &account, &peer, &request);
        s.stats.replayed += 1;
    }

    /// Runs `tasks` to completion, delivering their requests in random order; returns their
    /// results in completion order.
    pub async fn run<T: Send + 'static>(&self, mut tasks: JoinSet<T>) -> Vec<T> {
        let mut out = Vec::new();
        loop {
            // Let every task run until it waits for the network or a timer.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
            if self.deliver_one() {
                continue;
            }
            while let Some(done) = tasks.try_join_next() {
                out.push(done.expect("a sync task panicked"));
            }
            if tasks.is_empty() {
                return out;
            }
            // Nothing to deliver: the tasks wait for timers (backoff); let time pass.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn handle(server: &mut Server, account: &str, peer: &str, request: &Request) -> Result<Reply, TransportError> {
    Ok(match request {
        Request::Fast(r) => Reply::Fast(server.fast(account, r)?),
        Request::Standard(key, m) => Reply::Standard(server.standard(account, peer, key, m)?),
        Request::Doc(key) => Reply::Doc(server.doc_bytes(key)),
    })
}

fn unexpected<T>() -> Result<T, TransportError> {
    Err(TransportError::Network("意外的回复".into()))
}

impl Transport for Port {
    async fn fast_sync(&self, request: FastRequest) -> Result<FastResponse, TransportError> {
        match self.net.submit(&self.account, &self.peer, Request::Fast(request)).await? {
            Reply::Fast(r) => Ok(r),
            _ => unexpected(),
        }
    }

    async fn sync_message(&self, key: &DocKey, message: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        match self.net.submit(&self.account, &self.peer, Request::Standard(key.clone(), message)).await? {
            Reply::Standard(r) => Ok(r),
            _ => unexpected(),
        }
    }

    async fn fetch_doc(&self, key: &DocKey) -> Result<Option<Vec<u8>>, TransportError> {
        match self.net.submit(&self.account, &self.peer, Request::Doc(key.clone())).await? {
            Reply::Doc(r) => Ok(r),
            _ => unexpected(),
        }
    }

    async fn fetch_catalog(&self) -> Result<Catalog, TransportError> {
        Ok(self.net.server(|s| s.catalog.clone()))
    }
}
