//! Late entries (补录): a meeting or case step whose date is more than the catalog's threshold
//! before the server first saw it. Allowed, counted and labelled, never hidden.

use crate::{Catalog, Date};

/// Days late, when a record dated `dated` and first received by the server on `received` is a
/// late entry.
pub fn late_by(dated: Date, received: Date, catalog: &Catalog) -> Option<i64> {
    let days = dated.days_until(received);
    (days > i64::from(catalog.late_entry_days)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_more_than_seven_days_after_the_fact_is_late() {
        let c = Catalog::default();
        let d = |s| Date::parse(s).expect("date");
        assert_eq!(late_by(d("2026-03-01"), d("2026-03-08"), &c), None);
        assert_eq!(late_by(d("2026-03-01"), d("2026-03-09"), &c), Some(8));
        assert_eq!(late_by(d("2026-03-01"), d("2026-03-31"), &c), Some(30));
        assert_eq!(late_by(d("2026-03-10"), d("2026-03-01"), &c), None);
    }
}
