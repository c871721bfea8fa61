//! This device's identity, in `device.json`: the Automerge actor id every local change is made
//! under, and the peer id the server keeps this device's sync state by.
//!
//! Invariant: an actor id belongs to one account. It is made from 16 random bytes when the store
//! is first opened, taken by the first account that logs in, and kept while that account uses
//! the phone (the server binds an actor to the account that first pushed it, and the history
//! would lose who wrote what under a new one). When another account logs in on the same phone
//! (a handover, a shared office phone), the phone takes a new actor for it, but only once every
//! edit of the account before has synced: the server would refuse those under any other
//! account. The file is written with `write_atomic`, so a crash while writing it leaves either
//! the old file or the whole new one.

use std::path::Path;

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::DocKey;
use crate::error::ClientError;
use crate::store::{read_optional, write_atomic};

const FILE: &str = "device.json";

/// The device's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The actor id, 32 lowercase hex digits.
    pub actor: String,
    /// When the store was first opened, or the actor made (RFC 3339).
    pub created_at: String,
    /// The account the actor belongs to; None until the first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl Device {
    /// Reads `DIR/device.json`, or makes and stores a new identity when there is none.
    pub(crate) fn load_or_create(dir: &Path) -> Result<Device, ClientError> {
        let path = dir.join(FILE);
        if let Some(bytes) = read_optional(&path)? {
            let device: Device = serde_json::from_slice(&bytes).map_err(|e| ClientError::damaged(&path, e))?;
            if hex::decode(&device.actor).map_or(true, |b| b.len() != 16) {
                return Err(ClientError::damaged(&path, "设备编号不是 32 位十六进制数"));
            }
            return Ok(device);
        }
        let device = Device::fresh(None)?;
        device.store(dir)?;
        Ok(device)
    }

    /// A new identity, with a new random actor, for `account`.
    fn fresh(account: Option<String>) -> Result<Device, ClientError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            ClientError::Store(crate::store::StoreError::Io {
                context: "生成设备编号".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })
        })?;
        Ok(Device { actor: hex::encode(bytes), created_at: crate::clock::format(crate::clock::now()), account })
    }

    pub(crate) fn store(&self, dir: &Path) -> Result<(), ClientError> {
        write_atomic(&dir.join(FILE), &serde_json::to_vec_pretty(self).expect("a device serializes"))?;
        Ok(())
    }

    /// The identity for `account`, logging in on this phone with `pending` edits of the account
    /// before still to sync, and `damaged` a document whose files are damaged (its edits
    /// unknown): this one when it is the account's or nobody's yet (then taken, and
    /// stored), a new one when it is another account's and nothing of it waits (stored), or
    /// why not. None: nothing changes.
    pub(crate) fn for_account(
        &self,
        dir: &Path,
        account: &str,
        pending: usize,
        damaged: Option<&DocKey>,
    ) -> Result<Option<Device>, ClientError> {
        let next = match &self.account {
            Some(owner) if owner == account => return Ok(None),
            None => Device { account: Some(account.to_owned()), ..self.clone() },
            Some(owner) if pending > 0 => {
                return Err(ClientError::OtherAccountsEdits { account: owner.clone(), pending });
            }
            // Its edits cannot be counted: they may be the owner's, which only the owner's
            // rebuild keeps (another account's would leave them out as not its own).
            Some(owner) if damaged.is_some() => {
                let key = damaged.expect("checked").clone();
                return Err(ClientError::OtherAccountsDamaged { account: owner.clone(), key });
            }
            Some(_) => Device::fresh(Some(account.to_owned()))?,
        };
        next.store(dir)?;
        Ok(Some(next))
    }

    /// The Automerge actor of this device's changes.
    pub fn actor_id(&self) -> ActorId {
        ActorId::from(hex::decode(&self.actor).expect("checked when loaded"))
    }

    /// What the device sends as `X-Peer-Id`.
    pub fn peer_id(&self) -> &str {
        &self.actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_made_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let first = Device::load_or_create(tmp.path()).unwrap();
        let again = Device::load_or_create(tmp.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.actor_id().to_bytes().len(), 16);
        let other = Device::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_ne!(first.actor, other.actor);
    }

    #[test]
    fn a_damaged_identity_is_reported_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(FILE), b"{\"actor\":\"xyz\",\"created_at\":\"\"}").unwrap();
        let err = Device::load_or_create(tmp.path()).unwrap_err();
        assert!(matches!(err, ClientError::Damaged { .. }), "{err:?}");
    }
}
