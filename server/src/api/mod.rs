//! The HTTP API of API.md, one module per resource, each with its own `router()`.

pub mod catalog;
pub mod docs;
pub mod export;
pub mod health;
pub mod points;
pub mod report;
pub mod sync;

use zhibu_schema::{VillageId, Year};

use crate::auth::Caller;
use crate::db::documents::DocKey;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// What a caller asks to do with a village's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read its records: its cadres, its township's staff, admins.
    Read,
    /// Write them: its cadres.
    Write,
}

/// Parses the village and year of a document path, finds the village's township and checks
/// the caller's right to `access` it. The right is checked before the village is known to
/// exist, so that a caller who may not see a village learns nothing (403 whether it exists or
/// not, where 404 against 403 would tell which ids exist); only one who could see it hears that
/// it does not.
pub async fn doc_key(
    state: &AppState,
    caller: &Caller,
    access: Access,
    village: &str,
    year: &str,
) -> AppResult<DocKey> {
    let village = VillageId::parse(village).map_err(|e| AppError::bad_request(e.to_string()))?;
    let year = parse_year(year)?;
    let township = state.db.village_township(village.as_str()).await?;
    let allowed = |township: &str| match access {
        Access::Read => caller.require_reader_of(&village, township),
        Access::Write => caller.require_cadre_of(&village),
    };
    let Some(township) = township else {
        // No township is the caller's here: only an admin reads it, and a cadre whose own
        // village is gone writes it.
        allowed("")?;
        return Err(AppError::not_found(format!("村「{village}」不存在")));
    };
    allowed(&township)?;
    Ok(DocKey { township, village, year })
}

pub fn parse_year(year: &str) -> AppResult<Year> {
    year.parse::<i64>()
        .ok()
        .and_then(|y| Year::new(y).ok())
        .ok_or_else(|| AppError::bad_request(format!("年份「{year}」不对，应为 2000 到 2100 之间的整数")))
}

/// Today in China Standard Time, which is when village records are dated.
pub fn today() -> zhibu_schema::Date {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    zhibu_schema::Date::from_time(now.date()).expect("the clock is within 1900..2100")
}

/// The current year, for requests that do not name one.
pub fn this_year() -> Year {
    Year::new(i64::from(today().year_number())).expect("the clock is within 2000..2100")
}

/// The day a case of `year` still open is counted open to: today, whatever year it was opened
/// in (a case of last year not yet closed is still open, and overdue by today's count), or a
/// future year's first day.
pub fn open_cases_as_of(year: Year) -> zhibu_schema::Date {
    today().max(year.first_day())
}

/// The day a year's figures are computed for: today during the year; for a past year the day
/// after it ended, so its last month, quarter and the year itself count as over; for a future
/// year its first day.
pub fn as_of(year: Year) -> zhibu_schema::Date {
    let today = today();
    if today > year.last_day() {
        year.last_day().add_days(1).expect("2100 is the last supported year and has a successor")
    } else {
        today.max(year.first_day())
    }
}
