//! Which document: one village, one calendar year.
//!
//! Invariant: a key's file stem (`VILLAGE.YEAR`, e.g. `demo-1.2026`) parses back to the same key,
//! and no other file of the store has a stem of that shape, so the documents of a store are
//! found by listing its directory.

use std::fmt;

use serde::{Deserialize, Serialize};
use zhibu_schema::{VillageId, Year};

/// A village-year document, addressed as `/v1/villages/V/years/Y` on the server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DocKey {
    /// The village.
    pub village: VillageId,
    /// The calendar year.
    pub year: Year,
}

impl DocKey {
    /// The document of `village` for `year`.
    pub fn new(village: VillageId, year: Year) -> DocKey {
        DocKey { village, year }
    }

    /// The file stem of the document in the store directory.
    pub(crate) fn stem(&self) -> String {
        format!("{}.{}", self.village, self.year)
    }

    /// The key of a file stem written by [`DocKey::stem`].
    pub(crate) fn from_stem(stem: &str) -> Option<DocKey> {
        let (village, year) = stem.split_once('.')?;
        let year = Year::new(year.parse().ok()?).ok()?;
        Some(DocKey { village: VillageId::parse(village).ok()?, year })
    }
}

impl fmt::Display for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} 年", self.village, self.year)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_round_trip_and_nothing_else_parses() {
        let key = DocKey::new(VillageId::parse("demo-1").unwrap(), Year::new(2026).unwrap());
        assert_eq!(key.stem(), "demo-1.2026");
        assert_eq!(DocKey::from_stem(&key.stem()), Some(key));
        for other in ["demo-1.2026.sync", "device", "demo-1", "Demo.2026", "demo.1999", ".lock"] {
            assert_eq!(DocKey::from_stem(other), None, "{other}");
        }
    }
}
