//! Durable on-disk primitives of the phone's local store. They know nothing of Automerge: a
//! document is an opaque snapshot plus opaque chunks.
//!
//! Invariant: whatever this module has acknowledged (an `append` or `compact` that returned
//! `Ok`) survives the process being killed or the phone losing power at any instant, and reopening
//! after such a crash always succeeds with exactly the acknowledged data (plus, at most, the one
//! write that was in flight). Only actual damage to the files (a failing disk, someone editing
//! them) makes opening fail, with [`StoreError::Corrupt`].
//!
//! Use: take the [`StoreLock`] of the directory, then open one [`DocFile`] per document.

pub mod atomic;
mod crc32;
pub mod error;
mod header;
pub mod lock;
pub mod log;
pub(crate) mod name;
mod record;
mod snapshot;

pub use atomic::{read_optional, write_atomic};
pub use error::StoreError;
pub use lock::StoreLock;
pub use log::{DocFile, Loaded};
