//! Calendar dates as the API writes them (`YYYY-MM-DD`), years, and the reporting periods of a
//! year (month, quarter, year).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Month, format_description::FormatItem, macros::format_description};

const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("日期「{0}」格式不对，应为 年-月-日，例如 2026-03-15")]
    Format(String),
    #[error("年份 {0} 不在 2000 到 2100 之间")]
    Year(i64),
    #[error("日期「{0}」不在 1900 到 2100 年之间")]
    Range(String),
    /// Written as a day, but no calendar has it (`2026-02-30`, `2026-13-01`).
    #[error("日期「{0}」不存在：{1}")]
    NoSuchDay(String, String),
}

/// `s` with full-width ASCII (what a Chinese input method types: `２０２６`, `－`, `／`) and the
/// ideographic space made half-width.
pub fn half_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// Why `written` (year `y`, month `m`, day `d`, as digits) is no day of the calendar, if it is
/// none.
fn no_such_day(written: &str, y: &str, m: &str, d: &str) -> Option<DateError> {
    let (year, month, day) = (y.parse::<i32>().ok()?, m.parse::<u8>().ok()?, d.parse::<u8>().ok()?);
    let no_such = |why: String| Some(DateError::NoSuchDay(written.to_owned(), why));
    let Ok(named) = Month::try_from(month) else {
        return no_such(format!("月份应为 1 到 12，没有 {month} 月"));
    };
    let days = named.length(year);
    if day == 0 || day > days { no_such(format!("{year} 年 {month} 月只有 {days} 天")) } else { None }
}

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Date(time::Date);

impl Date {
    /// Parses exactly `YYYY-MM-DD`, a real day from 1900 (members joined decades ago) to 2100.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let d = time::Date::parse(s, FORMAT).map_err(|_| {
            // Written as a day (`2026-02-30`) but no calendar has it: said so, as the phone says.
            match (s.get(0..4), s.get(5..7), s.get(8..10)) {
                (Some(y), Some(m), Some(d)) if s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-' => {
                    no_such_day(s, y, m, d).unwrap_or_else(|| DateError::Format(s.to_owned()))
                }
                _ => DateError::Format(s.to_owned()),
            }
        })?;
        Self::from_time(d).map_err(|_| DateError::Range(s.to_owned()))
    }

    /// [`Date::parse`] with no help for a day that does not exist: what [`Date::parse_written`]
    /// ends with, once it has said so itself.
    fn parse_exact(s: &str) -> Result<Self, DateError> {
        let d = time::Date::parse(s, FORMAT).map_err(|_| DateError::Format(s.to_owned()))?;
        Self::from_time(d).map_err(|_| DateError::Range(s.to_owned()))
    }

    /// A day as people write it: `2026-03-05`, `2026-3-5`, `2026/3/5`, `2026.3.5` or
    /// `2026年3月5日`, with full-width digits (a Chinese input method gives them) and spaces
    /// around it. Records always store [`Date::parse`]'s form.
    pub fn parse_written(s: &str) -> Result<Self, DateError> {
        let plain = half_width(s);
        let plain = plain.trim();
        let normalized = plain.replace(['/', '.', '年', '月'], "-");
        let normalized = normalized.trim_end_matches('日');
        let parts: Vec<&str> = normalized.split('-').collect();
        match parts[..] {
            [y, m, d] if [y, m, d].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) => {
                if let Some(e) = no_such_day(s.trim(), y, m, d) {
                    return Err(e);
                }
                Self::parse_exact(&format!("{y:0>4}-{m:0>2}-{d:0>2}")).map_err(|e| match e {
                    DateError::Format(_) => DateError::Format(s.trim().to_owned()),
                    other => other,
                })
            }
            _ => Err(DateError::Format(s.trim().to_owned())),
        }
    }

    pub fn from_ymd(year: Year, month: u8, day: u8) -> Option<Self> {
        let month = Month::try_from(month).ok()?;
        time::Date::from_calendar_date(year.0, month, day).ok().map(Self)
    }

    pub fn from_time(d: time::Date) -> Result<Self, DateError> {
        if (1900..=2100).contains(&d.year()) { Ok(Self(d)) } else { Err(DateError::Range(d.to_string())) }
    }

    /// The calendar year number.
    pub fn year_number(self) -> i32 {
        self.0.year()
    }
    pub fn month(self) -> u8 {
        u8::from(self.0.month())
    }
    pub fn quarter(self) -> u8 {
        (self.month() - 1) / 3 + 1
    }
    pub fn as_time(self) -> time::Date {
        self.0
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        (later.0 - self.0).whole_days()
    }

    pub fn add_days(self, days: i64) -> Option<Date> {
        self.0.checked_add(time::Duration::days(days)).map(Self)
    }
}

impl TryFrom<String> for Date {
    type Error = DateError;
    fn try_from(s: String) -> Result<Self, DateError> {
        Self::parse(&s)
    }
}
impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.month(), self.0.day())
    }
}

/// A calendar year that documents may cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Year(i32);

impl Year {
    pub fn new(y: i64) -> Result<Self, DateError> {
        if (2000..=2100).contains(&y) { Ok(Self(y as i32)) } else { Err(DateError::Year(y)) }
    }
    pub fn get(self) -> i32 {
        self.0
    }
    pub fn first_day(self) -> Date {
        Date(time::Date::from_calendar_date(self.0, Month::January, 1).expect("valid year"))
    }
    pub fn last_day(self) -> Date {
        Date(time::Date::from_calendar_date(self.0, Month::December, 31).expect("valid year"))
    }
    pub fn contains(self, d: Date) -> bool {
        d.year_number() == self.0
    }
}

impl TryFrom<i64> for Year {
    type Error = DateError;
    fn try_from(y: i64) -> Result<Self, DateError> {
        Self::new(y)
    }
}
impl From<Year> for i64 {
    fn from(y: Year) -> i64 {
        i64::from(y.0)
    }
}
impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How often a requirement repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    Month,
    Quarter,
    Year,
}

impl Cadence {
    /// The span a requirement of this cadence is counted over when it is longer than `period`
    /// (本季度, 全年): a quarterly assembly looked at by month is the quarter's.
    pub fn span_beyond(self, period: Period) -> Option<&'static str> {
        match (self, period) {
            (Cadence::Quarter, Period::Month(_)) => Some("本季度"),
            (Cadence::Year, Period::Month(_) | Period::Quarter(_)) => Some("全年"),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Cadence::Month => "每月",
            Cadence::Quarter => "每季度",
            Cadence::Year => "每年",
        }
    }
}

/// One reporting period inside a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Month(u8),
    Quarter(u8),
    Year,
}

impl Period {
    /// Every period of a cadence, in order.
    pub fn all(cadence: Cadence) -> Vec<Period> {
        match cadence {
            Cadence::Month => (1..=12).map(Period::Month).collect(),
            Cadence::Quarter => (1..=4).map(Period::Quarter).collect(),
            Cadence::Year => vec![Period::Year],
        }
    }

    /// The period of a cadence that contains a date.
    pub fn of(cadence: Cadence, d: Date) -> Period {
        match cadence {
            Cadence::Month => Period::Month(d.month()),
            Cadence::Quarter => Period::Quarter(d.quarter()),
            Cadence::Year => Period::Year,
        }
    }

    /// Months covered, 1-based and inclusive.
    pub fn months(self) -> (u8, u8) {
        match self {
            Period::Month(m) => (m, m),
            Period::Quarter(q) => (q * 3 - 2, q * 3),
            Period::Year => (1, 12),
        }
    }

    pub fn contains(self, d: Date) -> bool {
        let (a, b) = self.months();
        (a..=b).contains(&d.month())
    }

    /// Whether `other` lies wholly inside `self`.
    pub fn covers(self, other: Period) -> bool {
        let (a, b) = self.months();
        let (c, d) = other.months();
        a <= c && d <= b
    }

    pub fn first_day(self, year: Year) -> Date {
        Date::from_ymd(year, self.months().0, 1).expect("valid month")
    }

    pub fn last_day(self, year: Year) -> Date {
        let (_, end) = self.months();
        let next = if end == 12 {
            return year.last_day();
        } else {
            Date::from_ymd(year, end + 1, 1).expect("valid month")
        };
        next.add_days(-1).expect("in range")
    }

    /// Parses `2026-03` (month), `2026-q2` (quarter) or `2026` (year), as the CLI and pages
    /// take them.
    pub fn parse(s: &str) -> Option<(Year, Period)> {
        let s = s.trim().to_ascii_lowercase();
        let (y, rest) = s.split_once('-').map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
        let year = Year::new(y.parse().ok()?).ok()?;
        let period = match rest {
            None => Period::Year,
            Some(q) if q.starts_with('q') => {
                let q: u8 = q[1..].parse().ok()?;
                (1..=4).contains(&q).then_some(Period::Quarter(q))?
            }
            Some(m) => {
                let m: u8 = m.parse().ok()?;
                (1..=12).contains(&m).then_some(Period::Month(m))?
            }
        };
        Some((year, period))
    }

    pub fn label(self) -> String {
        match self {
            Period::Month(m) => format!("{m}月"),
            Period::Quarter(q) => format!("第{}季度", ["一", "二", "三", "四"][usize::from(q - 1)]),
            Period::Year => "全年".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).expect(s)
    }

    #[test]
    fn dates_as_people_write_them() {
        for written in
            ["2026-03-05", " 2026-3-5 ", "2026/3/5", "2026.03.05", "2026年3月5日", "２０２６－０３－０５", "2026年3月5"]
        {
            assert_eq!(Date::parse_written(written).map(|d| d.to_string()), Ok("2026-03-05".to_owned()), "{written}");
        }
        for bad in ["2026-02-30", "2026-3", "3/5", "2026-03-05T00:00", "2026-03-0x", "", "2026--5"] {
            assert!(Date::parse_written(bad).is_err(), "{bad}");
        }
        assert_eq!(half_width("３分\u{3000}"), "3分 ");
        // A day no calendar has is told apart from a mistyped form.
        let message = |s: &str| Date::parse_written(s).expect_err(s).to_string();
        assert_eq!(message("2026-02-30"), "日期「2026-02-30」不存在：2026 年 2 月只有 28 天");
        assert_eq!(message("2028/2/30"), "日期「2028/2/30」不存在：2028 年 2 月只有 29 天");
        assert_eq!(message("2026-13-01"), "日期「2026-13-01」不存在：月份应为 1 到 12，没有 13 月");
        assert!(message("2026-3").contains("格式不对"));
    }

    #[test]
    fn dates_parse_exactly_year_month_day() {
        assert_eq!(d("2026-03-05").to_string(), "2026-03-05");
        for bad in ["2026-3-5", "2026/03/05", "26-03-05", "", "2026-03-05T00:00", "2026-0x-30"] {
            let err = Date::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("格式不对"), "{bad}: {err}");
        }
        // Digits padded past their width once sent both parsers round each other for ever.
        for odd in ["2026-001-05", "2026-01-005", "12026-01-05", "0002026-1-5"] {
            assert!(Date::parse(odd).is_err(), "{odd}");
            assert!(Date::parse_written(odd).is_err(), "{odd}");
        }
        // Written right, but no such day: the server says so as the phone does.
        let err = Date::parse("2026-02-30").expect_err("no such day");
        assert_eq!(err.to_string(), "日期「2026-02-30」不存在：2026 年 2 月只有 28 天");
    }

    #[test]
    fn dates_outside_supported_years_are_refused() {
        assert!(Date::parse("1958-07-01").is_ok(), "members joined long ago");
        assert_eq!(Date::parse("1899-12-31"), Err(DateError::Range("1899-12-31".into())));
        assert!(Date::parse("2101-01-01").is_err());
        assert!(Year::new(2101).is_err());
    }

    #[test]
    fn quarters_and_periods() {
        assert_eq!(d("2026-03-31").quarter(), 1);
        assert_eq!(d("2026-04-01").quarter(), 2);
        assert!(Period::Quarter(2).contains(d("2026-06-30")));
        assert!(Period::Quarter(1).covers(Period::Month(3)));
        assert!(!Period::Month(3).covers(Period::Quarter(1)));
        let y = Year::new(2024).expect("year");
        assert_eq!(Period::Month(2).last_day(y).to_string(), "2024-02-29");
        assert_eq!(Period::Quarter(4).last_day(y).to_string(), "2024-12-31");
        assert_eq!(Period::Quarter(3).label(), "第三季度");
    }

    #[test]
    fn periods_parse_from_user_text() {
        let y = Year::new(2026).expect("year");
        assert_eq!(Period::parse("2026-03"), Some((y, Period::Month(3))));
        assert_eq!(Period::parse("2026-Q2"), Some((y, Period::Quarter(2))));
        assert_eq!(Period::parse("2026"), Some((y, Period::Year)));
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(Period::parse("2026-q5"), None);
    }

    #[test]
    fn day_arithmetic() {
        assert_eq!(d("2026-01-01").days_until(d("2026-01-08")), 7);
        assert_eq!(d("2026-01-08").days_until(d("2026-01-01")), -7);
    }
}
