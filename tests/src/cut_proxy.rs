//! A TCP proxy on 127.0.0.1 that forwards to a server and cuts the line after a given number
//! of bytes in one direction, counted over every connection through it, as a phone's signal
//! drops in the middle of a sync. After the cut, the connection is dropped (both sides) and
//! every later connection is closed at once.
//!
//! Without a cut it forwards everything and records where each read ended in each direction,
//! which tells a test where the messages of an exchange begin and end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Which way the bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Phone to server: the requests.
    Up,
    /// Server to phone: the replies.
    Down,
}

/// Where to cut: after this many bytes in this direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub direction: Direction,
    pub after: u64,
}

#[derive(Debug, Default)]
struct Shared {
    up: AtomicU64,
    down: AtomicU64,
    tripped: AtomicBool,
    /// Cumulative byte counts at which reads ended, per direction.
    chunk_ends: Mutex<(Vec<u64>, Vec<u64>)>,
    /// Everything forwarded, per direction (recorded only without a cut).
    streams: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl Shared {
    fn counter(&self, d: Direction) -> &AtomicU64 {
        match d {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

#[derive(Debug)]
pub struct CutProxy {
    /// `http://127.0.0.1:PORT` of the proxy.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CutProxy {
    /// A proxy to `target` (an `http://127.0.0.1:PORT` URL) that cuts as told, or never.
    pub async fn start(target: &str, cut: Option<Cut>) -> CutProxy {
        let target: SocketAddr =
            target.trim_start_matches("http://").trim_end_matches('/').parse().expect("target is http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((phone, _)) = listener.accept().await {
                if s.tripped.load(Ordering::SeqCst) {
                    drop(phone);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target).await else { continue };
                connections.spawn(relay(phone, server, cut, s.clone()));
            }
        });
        CutProxy { url, shared, task }
    }

    /// Bytes forwarded so far: (up, down).
    pub fn bytes(&self) -> (u64, u64) {
        (self.shared.up.load(Ordering::SeqCst), self.shared.down.load(Ordering::SeqCst))
    }

    /// Whether the cut happened.
    pub fn tripped(&self) -> bool {
        self.shared.tripped.load(Ordering::SeqCst)
    }

    /// Where reads ended in a direction (cumulative bytes): message boundaries, roughly.
    pub fn chunk_ends(&self, d: Direction) -> Vec<u64> {
        let ends = self.shared.chunk_ends.lock().expect("lock");
        match d {
            Direction::Up => ends.0.clone(),
            Direction::Down => ends.1.clone(),
        }
    }

    /// Everything forwarded in a direction (recorded only without a cut).
    pub fn stream(&self, d: Direction) -> Vec<u8> {
        let streams = self.shared.streams.lock().expect("lock");
        match d {
            Direction::Up => streams.0.clone(),
            Direction::Down => streams.1.clone(),
        }
    }

    /// Where each HTTP message's head ends (after its blank line) in a direction.
    pub fn head_ends(&self, d: Direction) -> Vec<u64> {
        let streams = self.shared.streams.lock().expect("lock");
        let bytes = match d {
            Direction::Up => &streams.0,
            Direction::Down => &streams.1,
        };
        bytes.windows(4).enumerate().filter(|(_, w)| *w == b"\r\n\r\n").map(|(i, _)| i as u64 + 4).collect()
    }
}

/// One connection, both ways, until either side closes or the cut trips.
async fn relay(phone: TcpStream, server: TcpStream, cut: Option<Cut>, shared: Arc<Shared>) {
    let _ = phone.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (phone_r, phone_w) = phone.into_split();
    let (server_r, server_w) = server.into_split();
    let mut up = std::pin::pin!(pump(phone_r, server_w, Direction::Up, cut, shared.clone()));
    let mut down = std::pin::pin!(pump(server_r, phone_w, Direction::Down, cut, shared.clone()));
    let (mut up_done, mut down_done) = (false, false);
    // When either direction is cut, returning drops every half: the connection is gone both
    // ways. A side that closes normally lets the other finish.
    while !(up_done && down_done) {
        tokio::select! {
            tripped = &mut up, if !up_done => if tripped { return } else { up_done = true },
            tripped = &mut down, if !down_done => if tripped { return } else { down_done = true },
        }
    }
}

/// Forwards one direction; true when it stopped because of the cut.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    cut: Option<Cut>,
    shared: Arc<Shared>,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return false;
            }
            Ok(n) => n as u64,
        };
        if shared.tripped.load(Ordering::SeqCst) {
            return true;
        }
        let before = shared.counter(direction).fetch_add(n, Ordering::SeqCst);
        let allowed = match cut {
            Some(c) if c.direction == direction => c.after.saturating_sub(before).min(n),
            _ => n,
        };
        if allowed > 0 && to.write_all(&buf[..allowed as usize]).await.is_err() {
            return false;
        }
        if allowed < n {
            shared.tripped.store(true, Ordering::SeqCst);
            return true;
        }
        if cut.is_none() {
            let mut ends = shared.chunk_ends.lock().expect("lock");
            let mut streams = shared.streams.lock().expect("lock");
            let chunk = &buf[..n as usize];
            match direction {
                Direction::Up => (ends.0.push(before + n), streams.0.extend_from_slice(chunk)),
                Direction::Down => (ends.1.push(before + n), streams.1.extend_from_slice(chunk)),
            };
        }
    }
}
