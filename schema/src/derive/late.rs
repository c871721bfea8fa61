//! Late entries (补录): a meeting or case step whose date is more than the catalog's threshold
//! before the server first saw it. Allowed, counted and labelled, never hidden.
//!
//! And early entries (提前录入): a meeting or case step dated after the day the server first saw
//! it, so recorded before it happened (a meeting's attendance written ahead, a step dated
//! ahead to meet a deadline) or with a mistyped date. Allowed too (a phone's clock may be
//! wrong), and shown to the township as the late ones are.

use crate::{Catalog, Date};

/// Days late, when a record dated `dated` and first received by the server on `received` is a
/// late entry.
pub fn late_by(dated: Date, received: Date, catalog: &Catalog) -> Option<i64> {
    let days = dated.days_until(received);
    (days > i64::from(catalog.late_entry_days)).then_some(days)
}

/// Days early, when a record dated `dated` and first received by the server on `received`
/// is dated after that day.
pub fn early_by(dated: Date, received: Date) -> Option<i64> {
    let days = received.days_until(dated);
    (days > 0).then_some(days)
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

    #[test]
    fn an_entry_dated_after_the_day_it_arrived_is_early() {
        let d = |s| Date::parse(s).expect("date");
        assert_eq!(early_by(d("2026-03-10"), d("2026-03-10")), None, "the same day");
        assert_eq!(early_by(d("2026-03-01"), d("2026-03-10")), None);
        assert_eq!(early_by(d("2026-03-11"), d("2026-03-10")), Some(1));
        assert_eq!(early_by(d("2027-01-05"), d("2026-12-30")), Some(6));
    }
}
