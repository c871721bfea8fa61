//! The sync core, free of IO: given a document, a peer's sync state and what a phone sent, it
//! decides what may be stored and what to answer. The server wraps it in HTTP and a database,
//! and tests run it in-process with many phones and no network.
//!
//! Invariant: a change is admitted only when every new change is under an actor the caller may
//! write with, and the document that results breaks no rule that the document before it did not
//! already break. Otherwise nothing is admitted and the refusal says why.

mod admit;
mod authors;
pub mod bounds;
mod fast;
mod standard;

pub use admit::{Accepted, Gate, Owner, Refusal, admit, admit_authored, admit_known};
pub use authors::forged;
pub use fast::{
    FAST_VERSION, FastCatalog, FastDoc, FastOutcome, FastReply, FastRequest, FastResponse, Member, Share, Together,
    WireError, hashes_from_wire, hashes_to_wire, lacking_changes, receive_fast, receive_fast_known,
    receive_fast_together,
};
pub use standard::{SyncStep, receive_sync, receive_sync_known};

#[cfg(test)]
mod known_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod together_tests;
