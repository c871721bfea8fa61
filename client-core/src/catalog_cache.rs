//! The township's catalog as last fetched from the server, in `catalog.json`. Until the first
//! fetch the phone validates against the built-in default catalog, which is what a township
//! that changed nothing uses too.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zhibu_schema::Catalog;

use crate::error::ClientError;
use crate::store::{read_optional, write_atomic};

const FILE: &str = "catalog.json";

/// The cached catalog and when it was fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedCatalog {
    /// When it came from the server (RFC 3339); None for the built-in default.
    pub fetched_at: Option<String>,
    /// The catalog itself.
    pub catalog: Catalog,
}

impl CachedCatalog {
    pub(crate) fn load(dir: &Path) -> Result<CachedCatalog, ClientError> {
        let path = dir.join(FILE);
        let default = CachedCatalog { fetched_at: None, catalog: Catalog::default() };
        match read_optional(&path)? {
            // Only a copy of the server's: a damaged one is fetched again at the next sync (as
            // never fetched), rather than keep the phone from opening.
            Some(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, path = %path.display(), "a damaged catalog cache is fetched again");
                default
            })),
            None => Ok(default),
        }
    }

    pub(crate) fn store(dir: &Path, catalog: Catalog) -> Result<CachedCatalog, ClientError> {
        let cached = CachedCatalog { fetched_at: Some(crate::clock::format(crate::clock::now())), catalog };
        write_atomic(&dir.join(FILE), &serde_json::to_vec(&cached).expect("a catalog serializes"))?;
        Ok(cached)
    }

    /// Whether it is time to fetch it again (never fetched, or fetched more than a day ago).
    pub(crate) fn is_stale(&self) -> bool {
        self.fetched_at
            .as_deref()
            .and_then(crate::clock::parse)
            .is_none_or(|t| crate::clock::now() - t > time::Duration::days(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_cache_is_the_default_until_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{\"fetched_at\": \"2026-").unwrap();
        let cached = CachedCatalog::load(dir.path()).unwrap();
        assert_eq!(cached.catalog, Catalog::default());
        assert!(cached.is_stale(), "fetched at the next sync");
    }
}
