//! The mapping between typed records and the village-year Automerge document of API.md.

mod fields;
mod hydrate;
mod read;
mod write;

pub use hydrate::hydrate;
pub(crate) use read::collection_of;
pub use read::{Hydrated, ReadError, Touched, read, reread, string_at, touched_by};
pub(crate) use write::GENESIS_PREFIX;
pub use write::{WriteError, genesis, genesis_actor, put_at, put_document, put_record, put_record_id, replace_at};

#[cfg(test)]
mod tests;
