//! The audit log: `tracing` events with target `audit`, one per login, refused login,
//! throttled login, password change, token revocation, refused sync and `admin` command.
//!
//! Invariant: an audit event names accounts by id and clients by address, and nothing else
//! about them. Never a password, a token, a name typed at login that is not an existing
//! account (people type their password into the name field), a member's name or any record
//! content. Every audit event is made here, so that rule is kept in one place.

use std::time::Duration;

use crate::throttle::ClientAddr;

/// A name typed at login, as the audit log may show it: the account id when such an account
/// exists, else nothing of what was typed.
#[derive(Debug, Clone, Copy)]
pub enum Typed<'a> {
    Account(&'a str),
    Unknown,
}

impl std::fmt::Display for Typed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Typed::Account(id) => f.write_str(id),
            Typed::Unknown => f.write_str("(unknown)"),
        }
    }
}

/// An `admin` command run from the server's machine: what it was and whether it did it.
/// `command` names ids only (see [`crate::admin::AdminCommand::audited`]).
pub fn admin_command(command: &str, done: bool) {
    if done {
        tracing::info!(target: "audit", event = "admin_command", command, done);
    } else {
        tracing::warn!(target: "audit", event = "admin_command", command, done);
    }
}

pub fn login(account: &str, addr: ClientAddr) {
    tracing::info!(target: "audit", event = "login", account, %addr);
}

pub fn login_refused(account: Typed<'_>, addr: ClientAddr) {
    tracing::warn!(target: "audit", event = "login_refused", %account, %addr);
}

/// `by` is `account` or `address`: which counter reached its limit.
pub fn login_throttled(account: Typed<'_>, addr: ClientAddr, by: &'static str, retry_after: Duration) {
    tracing::warn!(target: "audit", event = "login_throttled", %account, %addr, by, retry_after_secs = retry_after.as_secs());
}

pub fn logout(account: &str, addr: ClientAddr) {
    tracing::info!(target: "audit", event = "logout", account, %addr);
}

/// An account's own password changed (every token of it ended, one new one issued).
pub fn password_changed(account: &str, addr: ClientAddr) {
    tracing::info!(target: "audit", event = "password_changed", account, %addr);
}

pub fn tokens_revoked(by: &str, account: &str, count: u64, addr: ClientAddr) {
    tracing::info!(target: "audit", event = "tokens_revoked", by, account, count, %addr);
}

/// A sync refused with 403 (not the caller's village, a foreign actor, a forged genesis) or
/// 422 (changes that break a rule). `code` is the error body's stable code.
pub fn sync_refused(account: &str, addr: ClientAddr, village: &str, year: &str, status: u16, code: &str) {
    tracing::warn!(target: "audit", event = "sync_refused", account, %addr, village, year, status, code);
}
