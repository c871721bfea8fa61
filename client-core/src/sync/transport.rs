//! How the phone reaches the server: the four calls sync needs, behind a trait, so the sync
//! logic runs the same over HTTP ([`HttpTransport`](crate::HttpTransport)) and, in tests, over
//! an in-process server built from the same sync core.

use std::future::Future;

use zhibu_schema::Catalog;
use zhibu_schema::sync::{FastRequest, FastResponse};

use crate::DocKey;
use crate::error::ServerRefusal;

/// Why a call to the server did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer, a broken connection, a timeout, a busy or failing server, an answer that does
    /// not decode: nothing is known to have happened. Try again later; re-sending is harmless.
    #[error("{0}")]
    Network(String),
    /// 401: the token is missing, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// Any other 4xx: the server refused and stored nothing.
    #[error("{0}")]
    Refused(ServerRefusal),
}

/// The server calls that sync needs. Each is one request; retries are the caller's.
pub trait Transport: Send + Sync {
    /// `POST /v1/sync`: the fast path for every document at once.
    fn fast_sync(&self, request: FastRequest) -> impl Future<Output = Result<FastResponse, TransportError>> + Send;

    /// `POST /v1/villages/V/years/Y/sync`: one standard sync message; the server's next
    /// message, or None when it answered 204 (nothing more to send).
    fn sync_message(
        &self,
        key: &DocKey,
        message: Vec<u8>,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, TransportError>> + Send;

    /// `GET /v1/villages/V/years/Y/doc`: the server's whole document, None when it has none.
    fn fetch_doc(&self, key: &DocKey) -> impl Future<Output = Result<Option<Vec<u8>>, TransportError>> + Send;

    /// `GET /v1/catalog`: the catalog in force for the account's township.
    fn fetch_catalog(&self) -> impl Future<Output = Result<Catalog, TransportError>> + Send;
}
