//! The township's catalog as last fetched from the server, in `catalog.json`. Until the first
//! fetch the phone validates against the built-in default catalog, which is what a township
//! that changed nothing uses too.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zhibu_schema::Catalog;

use crate::error::ClientError;
use crate::store::{read_optional, write_atomic};

const FILE: &str = "catalog.json";

/// The cached catalog, when it was fetched and whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedCatalog {
    /// When it came from the server (RFC 3339); None for the built-in default.
    pub fetched_at: Option<String>,
    /// The township whose catalog it is (the login's when it was fetched; None in a file from
    /// before it was kept, and for the built-in default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub township: Option<String>,
    /// The catalog itself.
    pub catalog: Catalog,
}

impl CachedCatalog {
    /// The built-in default, never fetched.
    pub(crate) fn built_in() -> CachedCatalog {
        CachedCatalog { fetched_at: None, township: None, catalog: Catalog::default() }
    }

    /// The cached catalog, if it is `township`'s (the login's): another township's, left by an
    /// earlier login on this phone, is the built-in default until the next sync fetches the
    /// right one, so no edit is checked against another township's rules.
    pub(crate) fn load(dir: &Path, township: Option<&str>) -> Result<CachedCatalog, ClientError> {
        let path = dir.join(FILE);
        match read_optional(&path)? {
            // Only a copy of the server's: a damaged one is fetched again at the next sync (as
            // never fetched), rather than keep the phone from opening.
            Some(bytes) => match serde_json::from_slice::<CachedCatalog>(&bytes) {
                Ok(cached) if cached.belongs_to(township) => Ok(cached),
                Ok(_) => Ok(CachedCatalog::built_in()),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "a damaged catalog cache is fetched again");
                    Ok(CachedCatalog::built_in())
                }
            },
            None => Ok(CachedCatalog::built_in()),
        }
    }

    /// Whether it may serve a login of `township`: it is that township's, or says no township
    /// (the built-in default, or a file from before townships were kept, which the next sync
    /// corrects as the fast request names the catalog).
    pub(crate) fn belongs_to(&self, township: Option<&str>) -> bool {
        self.township.is_none() || self.township.as_deref() == township
    }

    pub(crate) fn store(dir: &Path, catalog: Catalog, township: Option<String>) -> Result<CachedCatalog, ClientError> {
        let cached = CachedCatalog { fetched_at: Some(crate::clock::format(crate::clock::now())), township, catalog };
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
        let cached = CachedCatalog::load(dir.path(), Some("t1")).unwrap();
        assert_eq!(cached.catalog, Catalog::default());
        assert!(cached.is_stale(), "fetched at the next sync");
    }

    #[test]
    fn another_townships_catalog_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut theirs = Catalog::default();
        theirs.base_score += 1;
        CachedCatalog::store(dir.path(), theirs.clone(), Some("t2".into())).unwrap();
        let own = CachedCatalog::load(dir.path(), Some("t2")).unwrap();
        assert_eq!((own.catalog, own.township.as_deref()), (theirs.clone(), Some("t2")));
        let other = CachedCatalog::load(dir.path(), Some("t1")).unwrap();
        assert_eq!(other, CachedCatalog::built_in());
        assert!(other.is_stale(), "fetched at the next sync");
        // A file from before the township was kept serves whoever is logged in.
        std::fs::write(dir.path().join(FILE), serde_json::json!({"fetched_at": null, "catalog": theirs}).to_string())
            .unwrap();
        assert_eq!(CachedCatalog::load(dir.path(), Some("t1")).unwrap().catalog, theirs);
    }
}
