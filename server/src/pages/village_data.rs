//! A village's records for one year, loaded for a caller who may read them (its cadres, its
//! township's staff, admins: `Caller::require_reader_of`), with the catalog in force and when
//! each meeting and case step first reached the server. Shared by the village page, the record
//! book and the history.

use std::sync::Arc;

use automerge::Automerge;
use serde::Deserialize;
use zhibu_schema::{Catalog, Date, VillageYear, Year, mapping};

use super::error::PageError;
use crate::api;
use crate::auth::Caller;
use crate::db::documents::DocKey;
use crate::db::records::Arrivals;
use crate::error::AppError;
use crate::state::AppState;

/// `?year=`, the current year when absent; and the dashboard's period the page was opened
/// from (`&period=q3`), for the way back to it.
#[derive(Debug, Default, Deserialize)]
pub struct YearQuery {
    pub year: Option<String>,
    #[serde(default)]
    pub period: Option<String>,
}

impl YearQuery {
    /// The dashboard's period, when it is one (`year`, `q1`…`q4`, `1`…`12`, `2026-q3`).
    pub fn period(&self) -> Option<String> {
        let p = self.period.as_deref()?.trim();
        let plain = !p.is_empty() && p.len() <= 12 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (plain && api::report::named_year_and_period(None, Some(p)).is_ok()).then(|| p.to_owned())
    }

    pub fn year(&self) -> Result<Year, AppError> {
        match self.year.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
            Some(y) => api::parse_year(y),
            None => Ok(api::this_year()),
        }
    }
}

#[derive(Debug)]
pub struct VillageData {
    pub key: DocKey,
    pub name: String,
    /// The stored document (empty when the village has no records that year).
    pub automerge: Automerge,
    pub records: VillageYear,
    pub catalog: Arc<Catalog>,
    pub arrivals: Arrivals,
}

impl VillageData {
    pub fn year(&self) -> i64 {
        i64::from(self.key.year)
    }

    /// The day its open cases are counted open to: today, also in a past year's pages.
    pub fn open_cases_as_of(&self) -> Date {
        api::open_cases_as_of(self.key.year)
    }
}

/// Loads a village's year for a caller allowed to read it.
pub async fn load(state: &AppState, caller: &Caller, village: &str, year: Year) -> Result<VillageData, PageError> {
    let key = api::doc_key(state, caller, api::Access::Read, village, &year.to_string()).await?;
    let name = state.db.village_name(key.village.as_str()).await?.unwrap_or_else(|| key.village.to_string());
    let catalog = state.catalog_for(Some(&key.township)).await?;
    let loaded = state.db.load_doc(&key).await?;
    let records = if loaded.version == 0 {
        VillageYear::new(key.village.clone(), key.year)
    } else {
        mapping::read(&loaded.doc).map_err(|e| anyhow::anyhow!("stored document {key:?} does not read: {e}"))?.doc
    };
    let arrivals = state.db.arrivals(&key).await?;
    Ok(VillageData { key, name, automerge: loaded.doc, records, catalog, arrivals })
}
