//! This device's identity, in `device.json`: the Automerge actor id every local change is made
//! under, and the peer id the server keeps this device's sync state by.
//!
//! Invariant: the actor id is made once, from 16 random bytes, when the store is first opened,
//! and never changes afterwards (a new actor would still merge, but the server binds an actor to
//! the account that first pushed it, and the history would lose who wrote what). The file is
//! written with `write_atomic`, so a crash while creating it leaves either no file (the next
//! start makes one) or the whole file.

use std::path::Path;

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::error::ClientError;
use crate::store::{read_optional, write_atomic};

const FILE: &str = "device.json";

/// The device's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The actor id, 32 lowercase hex digits.
    pub actor: String,
    /// When the store was first opened (RFC 3339).
    pub created_at: String,
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
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            ClientError::Store(crate::store::StoreError::Io {
                context: "生成设备编号".to_owned(),
                source: std::io::Error::other(e.to_string()),
            })
        })?;
        let device = Device { actor: hex::encode(bytes), created_at: crate::clock::format(crate::clock::now()) };
        write_atomic(&path, &serde_json::to_vec_pretty(&device).expect("a device serializes"))?;
        Ok(device)
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
