//! The sync endpoints beside HTTP: the sync core's admission of a push (fast path or standard
//! protocol), run on a free core (see [`crate::gates`]), and the catalog part of a fast reply.
//! When the server knows the base document's records as read (kept with the cached document),
//! only the records the new changes touch are read again.

use std::collections::HashSet;
use std::sync::Arc;

use automerge::sync::State;
use automerge::{ActorId, Automerge, Change};
use zhibu_schema::Catalog;
use zhibu_schema::mapping::{self, Hydrated};
use zhibu_schema::sync::{
    Accepted, FastCatalog, FastDoc, FastOutcome, Gate, Member, Owner, Refusal, SyncStep, Together, receive_fast_known,
    receive_fast_together, receive_sync_known,
};

use crate::auth::Caller;
use crate::cache::Current;
use crate::db::documents::DocKey;
use crate::error::AppResult;
use crate::state::AppState;

/// Who an actor belongs to, as far as admission is concerned: the caller's actors (`mine`, in
/// hex) or unbound. Actors bound to other accounts are caught when binding, inside the push's
/// transaction.
pub fn owner_of(mine: &HashSet<String>) -> impl Fn(&ActorId) -> Owner + Sync + '_ {
    move |actor| if mine.contains(&actor.to_hex_string()) { Owner::Caller } else { Owner::Unbound }
}

/// Who pushes: the account, and the actors it holds (in hex).
#[derive(Debug, Clone, Copy)]
pub struct Pusher<'a> {
    pub account: &'a str,
    pub mine: &'a HashSet<String>,
}

impl Pusher<'_> {
    fn owned(self) -> (String, HashSet<String>) {
        (self.account.to_owned(), self.mine.clone())
    }
}

/// Admits one document of a fast request against `base`. `Ok(None)`: resync.
pub async fn fast(
    state: &AppState,
    key: &DocKey,
    base: &mut Current,
    doc: &FastDoc,
    catalog: &Arc<Catalog>,
    pusher: Pusher<'_>,
) -> Result<Option<(Accepted, FastOutcome)>, Refusal> {
    let size = doc.changes.iter().map(|c| c.len()).sum();
    let doc = doc.clone();
    on_base(state, key, base, catalog, vec![pusher.owned()], size, move |base, read, received, gates| {
        receive_fast_known(base, read, received, &doc, &gates[0])
    })
    .await
}

/// Admits fast pushes of several callers to one document together against `base`, each with
/// who pushed it: `None` when they must be admitted one at a time ([`receive_fast_together`]).
pub async fn fast_together(
    state: &AppState,
    key: &DocKey,
    base: &mut Current,
    pushes: &[(&FastDoc, Pusher<'_>)],
    catalog: &Arc<Catalog>,
) -> Option<Together> {
    let size = pushes.iter().flat_map(|(doc, _)| &doc.changes).map(|c| c.len()).sum();
    let docs: Vec<FastDoc> = pushes.iter().map(|(doc, _)| (*doc).clone()).collect();
    let pushers = pushes.iter().map(|(_, pusher)| pusher.owned()).collect();
    on_base(state, key, base, catalog, pushers, size, move |base, read, received, gates| {
        let members: Vec<Member<'_>> = docs.iter().zip(gates).map(|(doc, gate)| Member { doc, gate: *gate }).collect();
        receive_fast_together(base, read, received, &members)
    })
    .await
}

/// Admits one message of the standard protocol from a peer at `sync_state` against `base`.
pub async fn standard(
    state: &AppState,
    key: &DocKey,
    base: &mut Current,
    sync_state: State,
    message: &[u8],
    catalog: &Arc<Catalog>,
    pusher: Pusher<'_>,
) -> Result<SyncStep, Refusal> {
    let message = message.to_vec();
    on_base(state, key, base, catalog, vec![pusher.owned()], message.len(), move |base, read, _, gates| {
        receive_sync_known(base, read, &sync_state, &message, &gates[0])
    })
    .await
}

/// Incoming changes up to this size, admitted against records already read, are a short job
/// (a month of a village's records is about 6 KB): see [`crate::gates`].
pub(crate) const SHORT_PUSH_BYTES: usize = 64 * 1024;

/// Runs `admit` on a free core with the base document, its records as read, its changes kept
/// as received, and the gates of the `pushers` (each an account and the actors it holds) for
/// the document's village and year under `catalog`. A base whose records were not known yet is
/// read whole first, and learns them (in the cache too). `size`: the bytes of the incoming
/// changes.
async fn on_base<T: Send + 'static>(
    state: &AppState,
    key: &DocKey,
    base: &mut Current,
    catalog: &Arc<Catalog>,
    pushers: Vec<(String, HashSet<String>)>,
    size: usize,
    admit: impl FnOnce(&Automerge, Option<&Arc<Hydrated>>, &[Arc<Change>], &[Gate<'_>]) -> T + Send + 'static,
) -> T {
    let (job_key, catalog) = (key.clone(), catalog.clone());
    let (base_doc, known, received) = (base.doc.clone(), base.read.clone(), base.received.clone());
    let short = known.is_some() && size <= SHORT_PUSH_BYTES;
    let (result, base_read) = state
        .gates
        .cpu_if_short(short, move || {
            let base_read = match known {
                Some(r) => Some(r),
                None => mapping::read(&*base_doc).ok().map(Arc::new),
            };
            let owners: Vec<_> = pushers.iter().map(|(_, mine)| owner_of(mine)).collect();
            let gates: Vec<Gate<'_>> = pushers
                .iter()
                .zip(&owners)
                .map(|((account, _), owner)| Gate {
                    village: &job_key.village,
                    year: job_key.year,
                    catalog: &catalog,
                    account,
                    owner,
                })
                .collect();
            (admit(&base_doc, base_read.as_ref(), &received, &gates), base_read)
        })
        .await;
    if base.read.is_none()
        && let Some(read) = base_read
    {
        state.docs.learn_read(key, base.version, read.clone());
        base.read = Some(read);
    }
    result
}

/// The catalog part of a fast reply to a phone that holds the catalog of digest `theirs`: the
/// digest in force, with the catalog itself when the phone's is another.
pub async fn catalog(state: &AppState, caller: &Caller, theirs: &str) -> AppResult<FastCatalog> {
    let catalog = state.catalog_for(caller.account.township_id.as_deref()).await?;
    let digest = catalog.digest();
    let catalog = (digest != theirs).then(|| (*catalog).clone());
    Ok(FastCatalog { digest, catalog })
}
