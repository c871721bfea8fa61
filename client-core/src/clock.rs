//! The phone's clock, in the time zone village records are dated in (China Standard Time), and
//! the RFC 3339 text the store keeps times as.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use zhibu_schema::{Date, Year};

use crate::ClientError;

const CHINA: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("+08:00 is a valid offset"),
};

/// Now, in China Standard Time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(CHINA)
}

/// Today in China Standard Time, the day an edit made now is dated by default. A phone whose
/// clock reads a day outside the years records may have (say 1970, after its battery ran flat)
/// is told to set it, rather than dating anything by it.
pub fn today() -> Result<Date, ClientError> {
    checked(now().date()).map(|(day, _)| day)
}

/// This calendar year (see [`today`]).
pub fn this_year() -> Result<Year, ClientError> {
    checked(now().date()).map(|(_, year)| year)
}

/// The day the clock reads, and its year, if records may have it.
fn checked(day: time::Date) -> Result<(Date, Year), ClientError> {
    let year = Year::new(i64::from(day.year())).map_err(|_| ClientError::Clock(day.to_string()))?;
    let day = Date::from_time(day).map_err(|_| ClientError::Clock(day.to_string()))?;
    Ok((day, year))
}

/// Seconds since the Unix epoch, as Automerge changes carry them.
pub fn unix_seconds() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A time as RFC 3339 text in China Standard Time, e.g. `2026-03-10T09:30:00+08:00`.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(CHINA).format(&Rfc3339).expect("every time between 1900 and 2100 formats")
}

/// Parses what [`format()`] wrote.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// How a time reads for a person: `2026-03-10 09:30`.
pub fn human(t: OffsetDateTime) -> String {
    let t = t.to_offset(CHINA);
    format!(
        "{} {:02}:{:02}",
        Date::from_time(t.date()).map_or_else(|_| t.date().to_string(), |d| d.to_string()),
        t.hour(),
        t.minute()
    )
}

/// How a Unix time in seconds reads for a person.
pub fn human_unix(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds).map_or_else(|_| seconds.to_string(), human)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_text_in_china_time() {
        let t = OffsetDateTime::from_unix_timestamp(1_773_106_200).unwrap();
        let text = format(t);
        assert!(text.ends_with("+08:00"), "{text}");
        assert_eq!(parse(&text), Some(t));
        assert_eq!(human(t), "2026-03-10 09:30");
    }

    #[test]
    fn a_clock_reading_a_year_no_record_may_have_is_an_error_in_chinese_not_a_panic() {
        let flat_battery = time::Date::from_calendar_date(1970, time::Month::January, 1).unwrap();
        let err = checked(flat_battery).expect_err("1970");
        assert!(err.to_string().contains("手机时间不对（现在显示 1970-01-01）"), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::Refused);
        let (day, year) = checked(time::Date::from_calendar_date(2026, time::Month::March, 10).unwrap()).unwrap();
        assert_eq!((day.to_string(), year.to_string()), ("2026-03-10".to_owned(), "2026".to_owned()));
    }
}
