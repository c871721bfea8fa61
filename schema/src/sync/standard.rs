//! The standard Automerge sync protocol, one message at a time, with admission in between.

use automerge::Automerge;
use automerge::sync::{self, SyncDoc};

use super::admit::{Accepted, Gate, Refusal, admit};

/// The outcome of one message: what to store, the peer's new state, and the reply.
#[derive(Debug)]
pub struct SyncStep {
    /// The admitted document and its new changes (none when the message carried none).
    pub accepted: Accepted,
    pub state: sync::State,
    /// The next message for the peer; None when there is nothing more to say.
    pub reply: Option<Vec<u8>>,
}

/// Receives one sync message from a peer. Nothing changes unless it returns `Ok`: the caller
/// stores the new changes and state, then sends the reply.
pub fn receive_sync(
    base: &Automerge,
    state: &sync::State,
    message: &[u8],
    gate: &Gate<'_>,
) -> Result<SyncStep, Refusal> {
    let message = sync::Message::decode(message).map_err(|e| Refusal::Undecodable(e.to_string()))?;
    let mut state = state.clone();
    let mut next = base.fork();
    next.receive_sync_message(&mut state, message).map_err(|e| Refusal::Undecodable(e.to_string()))?;
    let accepted = admit(base, next, gate)?;
    let reply = accepted.doc.generate_sync_message(&mut state).map(sync::Message::encode);
    Ok(SyncStep { accepted, state, reply })
}
