//! Login throttling, per account name from one address, per account name from everywhere, and
//! per client address.
//!
//! An account is locked for the address its failures came from (five), so that whoever knows a
//! cadre's name cannot lock the cadre out from elsewhere; failures of one name from many
//! addresses lock it everywhere only at a higher count (thirty), which still bounds guessing
//! spread over many machines. That lock spares the addresses the account logged in from in the
//! last 90 days (a cadre's phone, the township's office): guessing from six addresses would
//! otherwise keep the owner out for good, names being easy to guess. The owner's own address
//! still has its five.
//!
//! Invariants:
//! - Attempts are counted in the database, so every server instance sharing it enforces the
//!   same limits and a restart forgets nothing. Nothing is kept in memory.
//! - An attempt is counted *before* its password is checked, in one atomic statement, so a
//!   burst of parallel attempts cannot get past the limit; a success then clears the account's
//!   counter and takes its own attempt back off the address's counter (an office behind one
//!   address logs in all day without locking itself out).
//! - Once a counter reaches its limit, further attempts are refused without checking the
//!   password until its window ends; the refusal says when, in minutes, with `Retry-After`.
//! - The table holds digests of names and addresses (HMAC-SHA-256 keyed with a secret of the
//!   server's own, kept in the database), never the names or addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::Row;

use crate::db::Db;
use crate::state::AppState;

/// How many attempts may fail within a window before further attempts are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures of one name from one address.
    pub per_account: i64,
    /// Failures of one name from all addresses together.
    pub per_account_everywhere: i64,
    pub per_address: i64,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { per_account: 5, per_account_everywhere: 30, per_address: 20, window: Duration::from_secs(15 * 60) }
    }
}

/// What a counter is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// The name typed at login, whether or not such an account exists (so that the answer does
    /// not tell which accounts exist).
    Account(&'a str),
    /// The name typed at login, from one address (None: a request without one, which only
    /// in-process tests make).
    AccountFrom(&'a str, Option<IpAddr>),
    /// Where the attempt came from; IPv6 by /64, the block one host usually holds.
    Address(IpAddr),
    /// An address the account logged in from: not a counter, the time of the last success.
    KnownFrom(&'a str, Option<IpAddr>),
    /// When an administrator last lifted the account's lock: not a counter either.
    Unlocked(&'a str),
}

/// How long an address an account logged in from stays known to it.
const KNOWN_FOR: Duration = Duration::from_secs(90 * 24 * 3600);

impl Subject<'_> {
    fn scope(&self) -> &'static str {
        match self {
            Subject::Account(_) => "account",
            Subject::AccountFrom(..) => "account_address",
            Subject::Address(_) => "address",
            Subject::KnownFrom(..) => "known",
            Subject::Unlocked(_) => "unlocked",
        }
    }

    fn limit(&self, limits: &Limits) -> i64 {
        match self {
            Subject::Account(_) => limits.per_account_everywhere,
            Subject::AccountFrom(..) => limits.per_account,
            Subject::Address(_) => limits.per_address,
            Subject::KnownFrom(..) | Subject::Unlocked(_) => i64::MAX,
        }
    }

    /// The digest stored for this subject: keyed with the server's secret, so that the table
    /// does not give the names and addresses away to whoever reads it.
    fn digest(&self, key: &[u8]) -> String {
        let clear = match self {
            Subject::Account(name) | Subject::Unlocked(name) => (*name).to_owned(),
            Subject::AccountFrom(name, ip) | Subject::KnownFrom(name, ip) => {
                format!("{name}\0{}", ip.map(address_key).unwrap_or_default())
            }
            Subject::Address(ip) => address_key(*ip),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(self.scope().as_bytes());
        mac.update(&[0]);
        mac.update(clear.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// An address as counted: IPv4 as is (also when mapped into IPv6), IPv6 by its /64 prefix.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused until the window ends, `retry_after` from now.
    Locked {
        retry_after: Duration,
    },
}

/// The verdict for a counter holding `attempts` (this one included) since `window_start_ms`.
pub fn verdict(attempts: i64, window_start_ms: i64, limit: i64, window: Duration, now_ms: i64) -> Verdict {
    if attempts <= limit {
        return Verdict::Allowed;
    }
    let ends = window_start_ms.saturating_add(window.as_millis() as i64);
    let left_ms = ends.saturating_sub(now_ms).max(1000) as u64;
    Verdict::Locked { retry_after: Duration::from_millis(left_ms) }
}

/// Whole minutes to wait, rounded up, as the refusal's message says them.
pub fn minutes(retry_after: Duration) -> u64 {
    retry_after.as_secs().div_ceil(60).max(1)
}

/// Whole seconds to wait, rounded up, for `Retry-After`.
pub fn seconds(retry_after: Duration) -> u64 {
    retry_after.as_millis().div_ceil(1000).max(1) as u64
}

/// Counts one attempt for `subject` (a new window if the last one ended, or began before
/// `restart_after`: the account's lock lifted since) and says whether it may go on.
pub async fn count_attempt(
    db: &Db,
    subject: Subject<'_>,
    limits: &Limits,
    now_ms: i64,
    restart_after: Option<i64>,
) -> Result<Verdict, sqlx::Error> {
    let window_ms = limits.window.as_millis() as i64;
    let restart = (now_ms - window_ms).max(restart_after.unwrap_or(i64::MIN));
    let row = sqlx::query(
        "INSERT INTO login_throttle (scope, subject, window_start, attempts) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (scope, subject) DO UPDATE SET \
           attempts = CASE WHEN login_throttle.window_start <= $4 THEN 1 ELSE login_throttle.attempts + 1 END, \
           window_start = CASE WHEN login_throttle.window_start <= $5 THEN $6 ELSE login_throttle.window_start END \
         RETURNING attempts, window_start",
    )
    .bind(subject.scope())
    .bind(subject.digest(&db.throttle_key[..]))
    .bind(now_ms)
    .bind(restart)
    .bind(restart)
    .bind(now_ms)
    .fetch_one(&db.pool)
    .await?;
    let attempts: i64 = row.try_get("attempts")?;
    let started: i64 = row.try_get("window_start")?;
    Ok(verdict(attempts, started, subject.limit(limits), limits.window, now_ms))
}

/// Takes one counted attempt back: it succeeded, or it was refused before its password was
/// checked.
pub async fn uncount(db: &Db, subject: Subject<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE login_throttle SET attempts = attempts - 1 WHERE scope = $1 AND subject = $2 AND attempts > 0")
        .bind(subject.scope())
        .bind(subject.digest(&db.throttle_key[..]))
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets a subject's counter (an account after a successful login), and every counter whose
/// window ended long ago, so the table stays small.
pub async fn clear(db: &Db, subject: Subject<'_>, limits: &Limits, now_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE scope = $1 AND subject = $2")
        .bind(subject.scope())
        .bind(subject.digest(&db.throttle_key[..]))
        .execute(&db.pool)
        .await?;
    sqlx::query("DELETE FROM login_throttle WHERE window_start < $1 AND (scope <> 'known' OR window_start < $2)")
        .bind(now_ms - 2 * limits.window.as_millis() as i64)
        .bind(now_ms - KNOWN_FOR.as_millis() as i64)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Lifts `account`'s lock now, from every address (an administrator's new password or
/// `enable`): its counters start over at their next attempt. The counters of addresses stay.
pub async fn unlock(db: &Db, account: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    stamp(db, Subject::Unlocked(account), now_ms).await
}

/// Records the time `now_ms` under a subject that is no counter ([`Subject::KnownFrom`],
/// [`Subject::Unlocked`]).
async fn stamp(db: &Db, subject: Subject<'_>, now_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_throttle (scope, subject, window_start, attempts) VALUES ($1, $2, $3, 0) \
         ON CONFLICT (scope, subject) DO UPDATE SET window_start = excluded.window_start",
    )
    .bind(subject.scope())
    .bind(subject.digest(&db.throttle_key[..]))
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// When `account`'s lock was last lifted ([`unlock`]), if it was.
pub async fn unlocked_at(db: &Db, account: &str) -> Result<Option<i64>, sqlx::Error> {
    let unlocked = Subject::Unlocked(account);
    let row = sqlx::query("SELECT window_start FROM login_throttle WHERE scope = $1 AND subject = $2")
        .bind(unlocked.scope())
        .bind(unlocked.digest(&db.throttle_key[..]))
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| r.try_get("window_start")).transpose()
}

/// Remembers that `account` logged in from `addr` now.
pub async fn remember_success(db: &Db, account: &str, addr: Option<IpAddr>, now_ms: i64) -> Result<(), sqlx::Error> {
    stamp(db, Subject::KnownFrom(account, addr), now_ms).await
}

/// Whether `account` logged in from `addr` in the last 90 days.
pub async fn is_known(db: &Db, account: &str, addr: Option<IpAddr>, now_ms: i64) -> Result<bool, sqlx::Error> {
    let known = Subject::KnownFrom(account, addr);
    let row =
        sqlx::query("SELECT 1 AS known FROM login_throttle WHERE scope = $1 AND subject = $2 AND window_start > $3")
            .bind(known.scope())
            .bind(known.digest(&db.throttle_key[..]))
            .bind(now_ms - KNOWN_FOR.as_millis() as i64)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.is_some())
}

/// The client's address, when the server was started with connection info (it always is;
/// router tests driven with `oneshot` have none, and are then throttled per account only):
/// the peer's, or behind a trusted proxy the one it names (see [`client_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
        if let Some(p) = peer {
            warn_if_proxy_untrusted(p, &parts.headers, &state.config.trusted_proxies);
        }
        Ok(ClientAddr(peer.map(|p| client_of(p, &parts.headers, &state.config.trusted_proxies))))
    }
}

/// Says once, in the server's log, that a reverse proxy on this machine passes on its clients'
/// addresses and is not trusted: every login then counts under the proxy's address, and twenty
/// typos anywhere lock the whole township out for a quarter of an hour.
fn warn_if_proxy_untrusted(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if peer.is_loopback()
        && !trusted.contains(&peer)
        && headers.contains_key("x-forwarded-for")
        && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        tracing::warn!(
            %peer,
            "requests from a local reverse proxy carry X-Forwarded-For, but the proxy is not trusted: \
             logins are throttled under its address for everyone; start with --trusted-proxies {peer}"
        );
    }
}

/// The address a request came from: `peer`, unless `peer` is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` that is not one. Each proxy appends the address it was
/// reached from, so reading from the right, the entries up to the first untrusted address were
/// written by trusted proxies, and anything left of it by whoever connected (and may be
/// forged). An entry that is not an address ends the reading there.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let values = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let entries: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else { break };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(15 * 60);

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("header value"));
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let header = forwarded(&["203.0.113.7"]);
        // Not from a proxy: the header is whatever the client wrote.
        assert_eq!(client_of(ip("198.51.100.1"), &header, &proxies), ip("198.51.100.1"));
        assert_eq!(client_of(ip("10.0.0.1"), &header, &[]), ip("10.0.0.1"));
        // From a proxy: the address it names.
        assert_eq!(client_of(ip("10.0.0.1"), &header, &proxies), ip("203.0.113.7"));
        // A forged entry left of the real one is not believed; two proxies in a row are passed.
        let chain = forwarded(&["6.6.6.6, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(client_of(ip("10.0.0.1"), &chain, &proxies), ip("203.0.113.7"));
        // IPv6, spaces.
        assert_eq!(client_of(ip("10.0.0.1"), &forwarded(&[" 2001:db8::7 "]), &proxies), ip("2001:db8::7"));
        // No header, or nothing readable in it: the proxy itself.
        assert_eq!(client_of(ip("10.0.0.1"), &HeaderMap::new(), &proxies), ip("10.0.0.1"));
        assert_eq!(client_of(ip("10.0.0.1"), &forwarded(&["unknown"]), &proxies), ip("10.0.0.1"));
        // Every entry a proxy: the farthest one.
        assert_eq!(client_of(ip("10.0.0.1"), &forwarded(&["10.0.0.2"]), &proxies), ip("10.0.0.2"));
    }

    #[test]
    fn the_limit_itself_is_allowed_and_one_more_is_locked_until_the_window_ends() {
        assert_eq!(verdict(5, 0, 5, WINDOW, 60_000), Verdict::Allowed);
        let Verdict::Locked { retry_after } = verdict(6, 0, 5, WINDOW, 3 * 60_000) else { panic!("locked") };
        assert_eq!(retry_after, Duration::from_secs(12 * 60));
        assert_eq!(minutes(retry_after), 12);
        assert_eq!(seconds(retry_after), 720);
    }

    #[test]
    fn waits_are_rounded_up_and_never_zero() {
        assert_eq!(minutes(Duration::from_secs(61)), 2);
        assert_eq!(minutes(Duration::from_millis(10)), 1);
        assert_eq!(seconds(Duration::from_millis(1001)), 2);
        let Verdict::Locked { retry_after } = verdict(9, 0, 5, WINDOW, WINDOW.as_millis() as i64) else {
            panic!("locked")
        };
        assert_eq!(seconds(retry_after), 1);
    }

    #[test]
    fn ipv6_hosts_are_counted_by_their_64_block_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.0.0.7".parse().expect("ip")), "10.0.0.7");
        let key = [7u8; 32];
        assert_ne!(Subject::Address(a).digest(&key), Subject::Account("2001:db8:1:2::/64").digest(&key));
        assert_ne!(Subject::Address(a).digest(&key), Subject::Address(a).digest(&[8u8; 32]), "keyed");
    }
}
