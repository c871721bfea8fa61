//! One module per group of subcommands; each returns the exit code of a run that did not fail.

mod case;
mod meeting;
mod online;
mod points;
mod roster;
mod view;

use std::fmt;
use std::future::Future;

use crate::zhibu_schema::{Code, MemberId, Text, Year};
use crate::{Phone, clock};

use crate::cli::args::Command;
use crate::cli::out::Out;

/// What every subcommand gets.
pub struct Ctx {
    pub phone: Phone,
    pub out: Out,
    /// `--year`, or this year.
    pub year: Year,
    /// Whether `--year` was given.
    pub year_given: bool,
    pub runtime: tokio::runtime::Runtime,
}

impl Ctx {
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A member of `--year`'s roster by id or name.
    pub fn member(&self, text: &str) -> anyhow::Result<MemberId> {
        Ok(self.phone.find_member(self.year, text)?)
    }

    /// A member as the cadre knows them, 王二（v1-m02）: the id alone when `year`'s roster lacks
    /// them (the phone's own label, read from the document without copying its records).
    pub fn member_label(&self, year: Year, id: &MemberId) -> String {
        match self.phone.with(|inner| inner.village()) {
            Ok(village) => self.phone.member_label(&crate::DocKey::new(village, year), id),
            Err(_) => id.to_string(),
        }
    }

    /// The day a new record is dated: `date`, or today; within `--year` when it was given, so
    /// that `zhibu --year 2025 meeting record` does not quietly record today, in another year.
    pub fn dated(&self, date: Option<crate::zhibu_schema::Date>) -> anyhow::Result<crate::zhibu_schema::Date> {
        let day = or_today(date)?;
        if self.year_given && i64::from(day.year_number()) != i64::from(self.year) {
            let why = match date {
                Some(_) => format!("日期 {day} 不在 --year 指定的 {} 年", self.year),
                None => format!("已用 --year 指定 {} 年，请再用 --date 写明日期（不写就是今天 {day}）", self.year),
            };
            return Err(Usage(why).into());
        }
        Ok(day)
    }

    /// "待同步的修改：N 条", for the end of an edit's report, and which years' damaged files
    /// may hold more.
    pub fn pending_line(&self) -> String {
        let mut line = format!("待同步的修改：{} 条", self.phone.pending_edits());
        let damaged = self.phone.damaged_documents();
        if !damaged.is_empty() {
            let keys: Vec<String> = damaged.iter().map(ToString::to_string).collect();
            line += &format!("（{}的文件已损坏，其中的修改未计入）", keys.join("、"));
        }
        line
    }
}

/// The user wrote something the program cannot use (exit code 2).
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Parses free text for a field, naming the field in the error.
pub fn text<const N: usize, const L: bool>(field: &str, value: &str) -> anyhow::Result<Text<N, L>> {
    Text::parse(value).map_err(|e| Usage(format!("{field}：{e}")).into())
}

/// Optional free text for a field.
pub fn opt_text<const N: usize, const L: bool>(field: &str, value: Option<&str>) -> anyhow::Result<Option<Text<N, L>>> {
    value.map(|v| text(field, v)).transpose()
}

pub fn today() -> Result<crate::zhibu_schema::Date, crate::ClientError> {
    clock::today()
}

/// What to do about a document the server refused: `zhibu rebuild` works on one year, which
/// must be named when it is not this year (a late entry for last December, say); None when the
/// refusal names no document.
pub fn rebuild_hint(year: Option<crate::zhibu_schema::Year>) -> String {
    let flag = match year {
        Some(year) if clock::this_year().ok() != Some(year) => format!(" --year {year}"),
        _ => String::new(),
    };
    format!("修改仍保存在手机上。改正后再同步，或运行 zhibu{flag} rebuild 只保留仍合规的修改。")
}

/// A catalog entry (a points rule, an item, a step) as the cadre wrote it: its code in any
/// case, or its Chinese name as `zhibu catalog` lists it. Another well-formed code goes on to
/// the library, which checks it against the catalog in force.
pub fn code_or_name<'a>(
    written: &str,
    what: &str,
    entries: impl IntoIterator<Item = (&'a Code, &'a str)>,
) -> anyhow::Result<Code> {
    let plain = crate::zhibu_schema::date::half_width(written);
    let plain = plain.trim();
    let lower = plain.to_ascii_lowercase();
    if let Some((code, _)) = entries.into_iter().find(|(code, name)| code.as_str() == lower || *name == plain) {
        return Ok(code.clone());
    }
    Code::parse(&lower).map_err(|_| Usage(format!("{what}「{written}」不在目录中；代码和名称见 zhibu catalog")).into())
}

/// The date given, or today.
pub fn or_today(date: Option<crate::zhibu_schema::Date>) -> Result<crate::zhibu_schema::Date, crate::ClientError> {
    date.map_or_else(today, Ok)
}

/// Warns on standard error when a meeting or case step is dated after today, and writes it as
/// given all the same (the phone's clock may be the one that is wrong): records are written
/// after the fact, and the township sees one dated after the day the server received it as
/// 提前录入.
pub fn warn_if_ahead(day: crate::zhibu_schema::Date) {
    if let Ok(today) = today()
        && day > today
    {
        eprintln!(
            "注意：日期 {day} 在今天（{today}）之后，请核对是否填错；提前记下的会议和办理步骤，乡镇会看到标为「提前录入」。"
        );
    }
}

pub fn dispatch(ctx: &Ctx, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Login(args) => online::login(ctx, args),
        Command::Logout => online::logout(ctx),
        Command::Password => online::password(ctx),
        Command::Sync { watch: false, retries } => online::sync(ctx, retries),
        Command::Sync { watch: true, .. } => online::watch(ctx),
        Command::Rebuild => online::rebuild(ctx),
        Command::Me => online::me(ctx),
        Command::Status => view::status(ctx),
        Command::Score { member } => view::score(ctx, member.as_deref()),
        Command::Compliance { period, as_of } => view::compliance(ctx, period, as_of),
        Command::Conflicts => view::conflicts(ctx),
        Command::Catalog => view::catalog(ctx),
        Command::Roster(r) => roster::run(ctx, r),
        Command::Meeting(m) => meeting::run(ctx, m),
        Command::Attend(a) => meeting::attend(ctx, a),
        Command::Points(p) => points::run(ctx, p),
        Command::Case(c) => case::run(ctx, c),
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn the_rebuild_hint_names_a_year_other_than_this_one() {
        let this_year = clock::this_year().expect("the clock");
        assert!(rebuild_hint(Some(this_year)).contains("运行 zhibu rebuild"), "{}", rebuild_hint(Some(this_year)));
        assert!(rebuild_hint(None).contains("运行 zhibu rebuild"), "{}", rebuild_hint(None));
        let last = crate::zhibu_schema::Year::new(i64::from(this_year.get()) - 1).expect("year");
        assert!(
            rebuild_hint(Some(last)).contains(&format!("运行 zhibu --year {last} rebuild")),
            "{}",
            rebuild_hint(Some(last))
        );
    }
}
