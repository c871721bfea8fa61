//! The standard Automerge sync protocol, one message at a time, with admission in between.

use std::sync::Arc;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, PatchLog, ReadDoc};

use super::admit::{Accepted, Gate, Refusal, admit_known};
use crate::mapping::Hydrated;

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
/// stores the new changes and state, then sends the reply. Malformed input that makes
/// Automerge panic is refused as undecodable (see [`crate::guard`]).
pub fn receive_sync(
    base: &Automerge,
    state: &sync::State,
    message: &[u8],
    gate: &Gate<'_>,
) -> Result<SyncStep, Refusal> {
    receive_sync_known(base, None, state, message, gate)
}

/// [`receive_sync`], given the base as read (`base_read`): then only the records the new
/// changes touch are read again, and a message that brings no change is answered without
/// reading anything.
pub fn receive_sync_known(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    state: &sync::State,
    message: &[u8],
    gate: &Gate<'_>,
) -> Result<SyncStep, Refusal> {
    crate::guard::refuse_panics(|| receive_sync_unguarded(base, base_read, state, message, gate))
}

fn receive_sync_unguarded(
    base: &Automerge,
    base_read: Option<&Arc<Hydrated>>,
    state: &sync::State,
    message: &[u8],
    gate: &Gate<'_>,
) -> Result<SyncStep, Refusal> {
    let message = sync::Message::decode(message).map_err(|e| Refusal::Undecodable(e.to_string()))?;
    check_filters(&message)?;
    super::bounds::Budget::check_all(message.changes.iter())?;
    let brought_changes = !message.changes.is_empty();
    let mut state = state.clone();
    let mut next = base.fork();
    let mut log = PatchLog::new(base_read.is_some());
    next.receive_sync_message_log_patches(&mut state, message, &mut log)
        .map_err(|e| Refusal::Undecodable(e.to_string()))?;
    // Changes whose dependencies have not arrived wait in the document's queue; the caller
    // stores only applied changes, so they are lost with this request. The peer believes it
    // sent them and would never send them again (its `sent_hashes`), and the sync would never
    // settle: ask it to forget what it sent, so it sends them again with their dependencies.
    // Nor may the document keep them waiting: the server stores and caches it, and a document
    // with a queue answers every later change as missing (`get_missing_deps`), so every change
    // a phone resent would look new and be checked again (refused when another account's), and
    // every fast push would be asked to resync. It is made again from the applied changes.
    // Without the queue, Automerge would ask the peer for its heads (the waiting changes), not
    // for what they wait on; when our Bloom filter falsely claims a missing dependency (about one
    // change in a hundred), the peer would send the waiting changes again and again, never the
    // dependency. So the reply asks for the dependencies themselves. It keeps our Bloom filter
    // (Automerge added it because what it needed was among the peer's heads), and with the
    // reset the peer sends again the dropped changes the filter does not claim.
    let mut waiting_on = Vec::new();
    if !next.get_missing_deps(&[]).is_empty() {
        waiting_on = next.get_missing_deps(state.their_heads.as_deref().unwrap_or_default());
        state.needs_reset = true;
        let applied = next.get_changes(&base.get_heads());
        next = base.fork();
        log = PatchLog::new(base_read.is_some());
        next.apply_changes_log_patches(applied, &mut log).map_err(|e| Refusal::Undecodable(e.to_string()))?;
    }
    let patches = if base_read.is_some() { next.make_patches(&mut log) } else { Vec::new() };
    let accepted = admit_known(base, base_read, next, patches, gate)?;
    // The state a server keeps between requests is Automerge's encoded one, which holds only the
    // heads the two share: Automerge would answer every message with our heads once more. When
    // the peer brought nothing, already has our heads, wants nothing and is sent nothing, there
    // is nothing more to say (API.md: 204); changes it brought are answered with the heads that
    // now hold them, its receipt.
    let ours = accepted.doc.get_heads();
    let peer_has_ours = |their: &Option<Vec<automerge::ChangeHash>>| {
        their.as_ref().is_some_and(|t| t.len() == ours.len() && t.iter().all(|h| ours.contains(h)))
    };
    let reply = accepted.doc.generate_sync_message(&mut state).and_then(|mut reply| {
        let nothing_to_say = !brought_changes
            && waiting_on.is_empty()
            && reply.changes.is_empty()
            && reply.need.is_empty()
            && peer_has_ours(&state.their_heads)
            && state.their_need.as_ref().is_none_or(Vec::is_empty);
        if nothing_to_say {
            return None;
        }
        if !waiting_on.is_empty() {
            reply.need = waiting_on;
        }
        Some(reply.encode())
    });
    Ok(SyncStep { accepted, state, reply })
}

/// The most probes and bits per entry a peer's Bloom filter may declare. Automerge (Rust and
/// JavaScript) makes filters of 7 probes and 10 bits per entry; these leave room for other peers.
const MAX_PROBES: u64 = 64;
const MAX_BITS_PER_ENTRY: u64 = 64;

/// Automerge trusts the sizes a Bloom filter declares: a 63-byte message declaring millions of
/// probes made the server test each of its changes millions of times (seconds of CPU) or reserve
/// gigabytes for the probes (found by fuzzing, `fuzz/hangs/`). Such a filter is refused.
fn check_filters(message: &sync::Message) -> Result<(), Refusal> {
    for have in &message.have {
        let bytes = have.bloom.to_bytes();
        let mut rest = bytes.as_slice();
        // Empty: no filter. Otherwise: entries, bits per entry, probes, each LEB128.
        let mut fields = [0u64; 3];
        if rest.is_empty() {
            continue;
        }
        for field in &mut fields {
            *field = super::bounds::uleb(&mut rest)
                .ok_or_else(|| Refusal::Undecodable("Bloom 过滤器格式错误".to_owned()))?;
        }
        let [_, bits_per_entry, probes] = fields;
        if probes > MAX_PROBES || bits_per_entry > MAX_BITS_PER_ENTRY {
            return Err(Refusal::Undecodable(format!(
                "Bloom 过滤器的参数超出范围（每项 {bits_per_entry} 位，{probes} 次探测）"
            )));
        }
    }
    Ok(())
}
