//! Changes the server makes itself (the demo township's rosters, roster imports): made under a
//! fresh actor bound to the account that ordered them, and stored through the same admission
//! and storage path as a phone's push, so they are validated and audited the same way.

use automerge::ActorId;
use automerge::transaction::CommitOptions;
use zhibu_schema::VillageYear;
use zhibu_schema::mapping::WriteError;
use zhibu_schema::sync::{Gate, Owner, admit};

use crate::db::documents::DocKey;
use crate::db::now_ms;
use crate::error::{AppError, AppResult};
use crate::push::{self, Push, Sender};
use crate::state::AppState;

/// Applies `edit` to the document as one change with `message`, validates and stores it.
/// A document that does not exist yet starts with the shared genesis change (see
/// [`Parts::build`](crate::db::documents::Parts::build)). `edit` is given the records as they
/// stand at each attempt: what it writes is made from them, so that a push stored meanwhile
/// (the reason for another attempt) is built on, never undone.
pub async fn server_edit<F>(state: &AppState, key: &DocKey, account: &str, message: &str, edit: F) -> AppResult<()>
where
    F: Fn(&mut automerge::transaction::Transaction<'_>, &VillageYear) -> Result<(), WriteError>,
{
    let owner = |_: &ActorId| Owner::Unbound;
    let _turn = state.gates.document(key).await;
    for _ in 0..8 {
        let base = state.load_doc(key).await?;
        let records = zhibu_schema::mapping::read(&*base.doc)
            .map_err(|e| {
                AppError::Internal(anyhow::anyhow!("村「{}」{} 年的记录无法读取：{e}", key.village, key.year))
            })?
            .doc;
        let catalog = crate::together::catalog_after(state, key).await?;
        // A year never stored is loaded as its genesis.
        let mut next = base.doc.fork();
        next.set_actor(ActorId::random());
        next.transact_with::<_, _, WriteError, _>(
            |_| CommitOptions::default().with_message(message.to_owned()).with_time(now_ms() / 1000),
            |tx| edit(tx, &records),
        )
        .map_err(|f| AppError::Internal(f.error.into()))?;
        let gate = Gate { village: &key.village, year: key.year, catalog: &catalog, account, owner: &owner };
        let accepted = admit(&base.doc, next, &gate)?;
        let senders = vec![Sender::only(account, None, None, &accepted)];
        let push = Push { key, base: &base, accepted, catalog: &catalog, senders };
        if push::store(state, push).await? {
            return Ok(());
        }
    }
    Err(AppError::busy())
}
