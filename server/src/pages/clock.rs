//! Times as the pages show them: China Standard Time, which is when village records are dated
//! and when township staff read them. Stored times stay UTC (milliseconds or seconds).

use time::macros::{format_description, offset};
use time::{OffsetDateTime, UtcOffset};
use zhibu_schema::Date;

const CST: UtcOffset = offset!(+8);

fn at_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok().map(|t| t.to_offset(CST))
}

fn show(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default()
}

/// A server time (Unix milliseconds) as `2026-03-01 09:30:00` in China Standard Time.
pub fn format_ms(ms: i64) -> String {
    at_ms(ms).map(show).unwrap_or_else(|| "—".to_owned())
}

/// A device time (Unix seconds, an Automerge change's timestamp) the same way; 0 means the
/// device did not say.
pub fn format_secs(secs: i64) -> String {
    if secs == 0 { "（未记录）".to_owned() } else { format_ms(secs.saturating_mul(1000)) }
}

/// The day in China of a server time.
pub fn day_of_ms(ms: i64) -> Option<Date> {
    at_ms(ms).and_then(|t| Date::from_time(t.date()).ok())
}

/// Calendar days in China from an RFC 3339 time to now: a sync at 23:00 yesterday was
/// yesterday (1), not today (0).
pub fn days_since(rfc3339: &str) -> Option<i64> {
    days_between(rfc3339, OffsetDateTime::now_utc())
}

fn days_between(rfc3339: &str, now: OffsetDateTime) -> Option<i64> {
    let t = OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()?;
    Some((now.to_offset(CST).date() - t.to_offset(CST).date()).whole_days())
}

/// An RFC 3339 time in China Standard Time, for display.
pub fn format_rfc3339(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| show(t.to_offset(CST)))
        .unwrap_or_else(|_| rfc3339.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_in_china_standard_time() {
        // 2026-03-01T01:30:00Z is 09:30 in Beijing.
        let ms = 1_772_328_600_000;
        assert_eq!(format_ms(ms), "2026-03-01 09:30:00");
        assert_eq!(format_secs(ms / 1000), "2026-03-01 09:30:00");
        assert_eq!(format_secs(0), "（未记录）");
        assert_eq!(day_of_ms(ms).map(|d| d.to_string()).as_deref(), Some("2026-03-01"));
        assert_eq!(format_rfc3339("2026-03-01T01:30:00Z"), "2026-03-01 09:30:00");
    }

    #[test]
    fn days_since_count_china_calendar_days() {
        // 23:00 on 2 March in Beijing, seen at 08:00 on 3 March: yesterday.
        let now =
            OffsetDateTime::parse("2026-03-03T00:00:00Z", &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(days_between("2026-03-02T15:00:00Z", now), Some(1));
        assert_eq!(days_between("2026-03-02T16:30:00Z", now), Some(0), "00:30 on 3 March: today");
        assert_eq!(days_between("not a time", now), None);
    }
}
