//! The micro-power cases of a year with their gaps (missing or out-of-order steps, a missing or
//! short notice, overdue), as the township will see them.

use serde::{Deserialize, Serialize};
use zhibu_schema::{CaseGap, Code, Date, RecordId, Year, case_gaps};

use crate::Phone;
use crate::error::ClientError;

/// One live case and its gaps (none: the case is in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseGaps {
    /// The case's id.
    pub id: RecordId,
    /// The catalog item's code.
    pub item: Code,
    /// The item's name in the catalog.
    pub item_name: String,
    /// The case's title.
    pub title: String,
    /// When it was opened.
    pub opened_on: Date,
    /// When it was closed, if it was.
    pub closed_on: Option<Date>,
    /// What is missing or wrong; empty when the case is in order.
    pub gaps: Vec<CaseGap>,
    /// Each gap in Chinese, in the order of `gaps`.
    pub described: Vec<String>,
}

impl Phone {
    /// Every case of `year` that is not voided, with its gaps as of `as_of`, by opening date.
    pub fn case_gaps(&self, year: Year, as_of: Date) -> Result<Vec<CaseGaps>, ClientError> {
        let records = self.shared_records(year)?;
        let catalog = self.catalog();
        let mut out: Vec<CaseGaps> = records
            .live_cases()
            .map(|(id, case)| {
                let gaps = case_gaps(case, &records, &catalog, as_of);
                CaseGaps {
                    id: id.clone(),
                    item: case.item.clone(),
                    item_name: catalog
                        .item(case.item.as_str())
                        .map_or_else(|| case.item.to_string(), |i| i.name.to_string()),
                    title: case.title.to_string(),
                    opened_on: case.opened_on,
                    closed_on: case.closed_on,
                    described: gaps.iter().map(|g| g.describe(&catalog, &case.item)).collect(),
                    gaps,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.opened_on, &a.id).cmp(&(b.opened_on, &b.id)));
        Ok(out)
    }
}
