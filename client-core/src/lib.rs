//! zhibu-client: the village cadre's phone as a library, for a mobile app to embed, and the
//! `zhibu` command-line program that drives it the way the app would.
//!
//! A [`Phone`] is one local store directory: the village-year Automerge documents, this
//! device's actor id, the login [`Session`], the cached catalog and, per document, what the
//! phone knows of the server (its heads, the standard sync state, the last sync, the last
//! refusal). Everything works offline:
//!
//! - **Edits** ([`Phone::record_meeting`], [`Phone::award_points`], [`Phone::open_case`], ...)
//!   are checked with `zhibu-schema`'s validation and committed as one Automerge change per user
//!   action. An edit is on disk (written and fsynced) before the call returns; a refused edit
//!   changes nothing and returns [`ClientError::Refused`] with the Chinese message.
//! - **Queries** ([`Phone::meetings`], [`Phone::score`], [`Phone::compliance`],
//!   [`Phone::case_gaps`], [`Phone::conflicts`], [`Phone::status`]) read the local documents.
//! - **Sync** ([`Phone::sync`], [`Phone::start_sync_task`], [`Phone::rebuild`]) talks to the
//!   township server through a [`Transport`]: [`HttpTransport`] in production, anything that
//!   runs the same sync core in tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zhibu_client::ClientError> {
//! use zhibu_client::{HttpTransport, Phone, SyncOptions};
//! let phone = Phone::open("./zhibu-phone".as_ref())?;
//! zhibu_client::login(&phone, "http://127.0.0.1:8080", "cadre1", "secret").await?;
//! let report = phone.sync(&HttpTransport::for_phone(&phone)?, &SyncOptions::once(), &mut |_| {}).await?;
//! println!("{} 份文档已同步", report.docs.len());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod catalog_cache;
pub mod cli;
pub mod clock;
pub mod device;
pub mod doc_key;
pub mod edit;
pub mod error;
pub mod phone;
pub mod query;
mod replica;
pub mod session;
pub mod store;
pub mod sync;

pub use doc_key::DocKey;
pub use edit::{MeetingEdit, MemberChange, NewCase, NewPoints};
pub use error::{ClientError, EditRefusal, ErrorKind, ServerRefusal};
pub use phone::{Phone, PhoneOptions};
pub use query::conflicts::{Conflict, ConflictValue};
pub use query::gaps::CaseGaps;
pub use query::status::{DocStatus, Status};
pub use session::{Account, Role, Session};
pub use sync::http::{HttpTransport, MyPoints, MyPointsEntry, change_password, fetch_my_points, login, logout};
pub use sync::rebuild::{DroppedEdit, RebuildReport};
pub use sync::report::{DocOutcome, DocSyncReport, SyncEvent, SyncReport};
pub use sync::task::{SyncTask, WatchOptions};
pub use sync::transport::{Transport, TransportError};
pub use sync::{RetryPolicy, SyncOptions};
pub use zhibu_schema;

#[cfg(test)]
mod testutil;
