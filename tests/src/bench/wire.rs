//! A counting TCP proxy on 127.0.0.1 in front of the server: what a phone's line carries.
//!
//! It counts the TCP payload in each direction (HTTP headers and bodies; not the TCP/IP
//! headers, which are the same for every peer), the connections opened, and the round trips:
//! each time the phone starts sending after the server has answered (or on a new connection)
//! is one more round trip of the exchange, however many packets either side used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
    round_trips: AtomicU64,
}

/// What went over the wire between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// Bytes from the phone to the server.
    pub up: u64,
    /// Bytes from the server to the phone.
    pub down: u64,
    pub connections: u64,
    pub round_trips: u64,
}

impl std::ops::Sub for Wire {
    type Output = Wire;
    fn sub(self, o: Wire) -> Wire {
        Wire {
            up: self.up - o.up,
            down: self.down - o.down,
            connections: self.connections - o.connections,
            round_trips: self.round_trips - o.round_trips,
        }
    }
}

#[derive(Debug)]
pub struct CountingProxy {
    pub url: String,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingProxy {
    /// A proxy to the server at `target` (`http://127.0.0.1:PORT`).
    pub async fn start(target: &str) -> anyhow::Result<CountingProxy> {
        let target: SocketAddr = target.trim_start_matches("http://").trim_end_matches('/').parse()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((phone, _)) = listener.accept().await {
                let counts = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        counts.connections.fetch_add(1, Ordering::Relaxed);
                        relay(phone, server, counts).await;
                    }
                });
            }
        });
        Ok(CountingProxy { url, counts, task })
    }

    pub fn snapshot(&self) -> Wire {
        Wire {
            up: self.counts.up.load(Ordering::SeqCst),
            down: self.counts.down.load(Ordering::SeqCst),
            connections: self.counts.connections.load(Ordering::SeqCst),
            round_trips: self.counts.round_trips.load(Ordering::SeqCst),
        }
    }
}

async fn relay(phone: TcpStream, server: TcpStream, counts: Arc<Counts>) {
    let _ = phone.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut phone_r, mut phone_w) = phone.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    // True while the server has spoken last on this connection.
    let answered = Arc::new(AtomicBool::new(true));
    let (c_up, a_up) = (counts.clone(), answered.clone());
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match phone_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if a_up.swap(false, Ordering::SeqCst) {
                c_up.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            c_up.up.fetch_add(n as u64, Ordering::SeqCst);
            if server_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_w.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            answered.store(true, Ordering::SeqCst);
            counts.down.fetch_add(n as u64, Ordering::SeqCst);
            if phone_w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = phone_w.shutdown().await;
    };
    tokio::join!(up, down);
}
