//! Roster import from the CSV a township clerk keeps (UTF-8, with or without a byte-order mark):
//! columns 姓名, 党小组, 正式/预备, 支委, 入党日期, and optionally 转正日期, 转入日期 (the day a member
//! came from another branch during the year) and 编号. The whole file is
//! refused when any row is bad, with every bad row's line number, so a half-imported roster
//! never reaches the villages.

use zhibu_schema::{Date, Member, MemberId, MemberStatus, Name, VillageId};

/// One member read from the file; `id` is None when the file has no 编号 column (or the cell is
/// blank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// The file's line the row starts on, for messages.
    pub line: usize,
    pub id: Option<MemberId>,
    pub member: Member,
    /// Whether the file has a 支委 column (a blank cell there means 否).
    pub committee_given: bool,
}

impl RosterRow {
    /// What the row makes of a member the village already has: the file's name and status,
    /// and what else the file gives; what it leaves blank, and the day the member left (which
    /// the village records, not the clerk's file), stay as they were.
    pub fn update(&self, existing: &Member) -> Member {
        let file = &self.member;
        let mut m = existing.clone();
        m.name = file.name.clone();
        m.status = file.status;
        if self.committee_given {
            m.committee = file.committee;
        }
        m.group = file.group.clone().or(m.group);
        m.joined_on = file.joined_on.or(m.joined_on);
        m.arrived_on = file.arrived_on.or(m.arrived_on);
        m.full_on = match file.status {
            MemberStatus::Probationary => None,
            MemberStatus::Full => file.full_on.or(m.full_on),
        };
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("名册文件有错误，整个文件未导入：\n{}", .0.join("\n"))]
pub struct RosterError(pub Vec<String>);

/// A date as clerks write it ([`Date::parse_written`]); a month alone (`1998-07`, `1998年7月`)
/// is its first day, as old records often give no day.
fn parse_date(s: &str) -> Option<Date> {
    Date::parse_written(s).ok().or_else(|| {
        let month = zhibu_schema::date::half_width(s);
        let month = month.trim().trim_end_matches(['月', '-', '/', '.']);
        Date::parse_written(&format!("{month}-1")).ok()
    })
}

fn yes(s: &str) -> Option<bool> {
    match s.trim() {
        "是" | "√" | "✓" | "Y" | "y" | "yes" | "1" | "支委" => Some(true),
        "" | "否" | "×" | "N" | "n" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A Chinese name as rosters write it padded to line up (周　明 beside 欧阳明辉): the spaces,
/// full-width or not, are no part of it. A name in other letters keeps its spaces.
fn unpadded(name: &str) -> String {
    let chinese = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c);
    if name.chars().any(chinese) { name.chars().filter(|c| !c.is_whitespace()).collect() } else { name.to_owned() }
}

/// Why a day a clerk wrote cannot be read: a day no calendar has or out of range, in the date's
/// own words; otherwise how to write it (`example`).
fn unreadable_day(field: &str, written: &str, example: &str) -> String {
    match Date::parse_written(written) {
        Err(e @ (zhibu_schema::DateError::Range(_) | zhibu_schema::DateError::NoSuchDay(..))) => {
            format!("{field}：{e}")
        }
        _ => format!("{field}「{written}」看不懂，请写成 {example}"),
    }
}

/// Parses a roster file; every problem is reported with its line.
pub fn parse(text: &str) -> Result<Vec<RosterRow>, RosterError> {
    match parse_rows(text, None) {
        (rows, errors) if errors.is_empty() => Ok(rows),
        (_, errors) => Err(RosterError(errors)),
    }
}

/// The rows of a roster file that read well, and what is wrong with the others (each with its
/// line), for a caller that has more to check before it names every problem at once. For the
/// roster of `year`, when given, a 转入日期 must fall within it.
pub fn parse_rows(text: &str, year: Option<zhibu_schema::Year>) -> (Vec<RosterRow>, Vec<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return (Vec::new(), vec![format!("第 1 行：表头无法读取：{e}")]),
    };
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h));
    let mut errors = Vec::new();
    let name_col = col(&["姓名"]);
    let status_col = col(&["正式/预备", "类别", "党员类别"]);
    if name_col.is_none() {
        errors.push("第 1 行：表头缺少「姓名」列".to_owned());
    }
    if status_col.is_none() {
        errors.push("第 1 行：表头缺少「正式/预备」列".to_owned());
    }
    let (Some(name_col), Some(status_col)) = (name_col, status_col) else { return (Vec::new(), errors) };
    let group_col = col(&["党小组"]);
    let committee_col = col(&["支委", "是否支委"]);
    let joined_col = col(&["入党日期", "入党时间"]);
    let full_col = col(&["转正日期", "转正时间"]);
    let arrived_col = col(&["转入日期", "转入时间"]);
    let id_col = col(&["编号"]);

    let mut rows = Vec::new();
    // The line each 编号 was first given on: two rows with one id would silently be one member.
    let mut lines_of_ids: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // The line a record starts on: blank lines and quoted fields over several lines make it
    // differ from the record's count. The reader's position is where it started reading, before
    // the blank lines it skips.
    let line_of = |pos: &csv::Position| {
        let skipped = text.as_bytes().get(pos.byte() as usize..).unwrap_or_default();
        let blank = skipped.iter().take_while(|b| matches!(b, b'\n' | b'\r')).filter(|b| **b == b'\n').count();
        pos.line() as usize + blank
    };
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(i + 2, line_of);
                errors.push(format!("第 {line} 行：无法读取：{e}"));
                continue;
            }
        };
        let line = record.position().map_or(i + 2, line_of);
        if record.iter().all(str::is_empty) {
            continue;
        }
        // One cell holding the whole row: typed with full-width commas, which CSV does not
        // separate by.
        if record.iter().filter(|c| !c.is_empty()).count() == 1 && record.iter().any(|c| c.contains('，')) {
            errors.push(format!(
                "第 {line} 行：用了中文逗号「，」分隔各列，CSV 只认英文逗号「,」（在 Excel 或 WPS 中另存为“CSV UTF-8”即可）"
            ));
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").trim();
        let mut bad = |msg: String| errors.push(format!("第 {line} 行：{msg}"));
        let name = Name::parse(&unpadded(get(Some(name_col)))).map_err(|e| bad(format!("姓名{e}"))).ok();
        let status = match get(Some(status_col)) {
            "正式" | "正式党员" => Some(MemberStatus::Full),
            "预备" | "预备党员" => Some(MemberStatus::Probationary),
            other => {
                bad(format!("「正式/预备」应填“正式”或“预备”，不是「{other}」"));
                None
            }
        };
        let committee = yes(get(committee_col)).or_else(|| {
            bad(format!("「支委」应填“是”或“否”，不是「{}」", get(committee_col)));
            None
        });
        let group = match get(group_col) {
            "" => Some(None),
            g => Name::parse(g).map(Some).map_err(|e| bad(format!("党小组{e}"))).ok(),
        };
        let joined = match get(joined_col) {
            "" => Some(None),
            d => parse_date(d).map(Some).or_else(|| {
                bad(unreadable_day("入党日期", d, "1998-07-01"));
                None
            }),
        };
        let full_on = match get(full_col) {
            "" => Some(None),
            d => parse_date(d).map(Some).or_else(|| {
                bad(unreadable_day("转正日期", d, "2026-07-01"));
                None
            }),
        };
        let arrived_on = match get(arrived_col) {
            "" => Some(None),
            d => match (parse_date(d), year) {
                (Some(day), Some(y)) if !y.contains(day) => {
                    bad(format!("转入日期 {day} 不在 {y} 年内；转入日期只记本年内从别的支部转来的，之前转来的不用填"));
                    None
                }
                (Some(day), _) => Some(Some(day)),
                (None, _) => {
                    bad(unreadable_day("转入日期", d, "2026-03-15"));
                    None
                }
            },
        };
        if let (Some(MemberStatus::Probationary), Some(Some(_))) = (status, full_on) {
            bad("预备党员不应填转正日期；已转正的请在「正式/预备」填“正式”".to_owned());
        }
        let id = match get(id_col) {
            "" => Some(None),
            s => MemberId::parse(s).map(Some).map_err(|e| bad(e.to_string())).ok(),
        };
        if let Some(Some(id)) = &id
            && let Some(first) = lines_of_ids.insert(id.to_string(), line)
        {
            bad(format!("编号「{id}」与第 {first} 行重复"));
        }
        if let (
            Some(name),
            Some(status),
            Some(committee),
            Some(group),
            Some(joined_on),
            Some(full_on),
            Some(arrived_on),
            Some(id),
        ) = (name, status, committee, group, joined, full_on, arrived_on, id)
        {
            let mut member = Member::new(name, status);
            member.committee = committee;
            member.group = group;
            member.joined_on = joined_on;
            member.full_on = full_on;
            member.arrived_on = arrived_on;
            rows.push(RosterRow { line, id, member, committee_given: committee_col.is_some() });
        }
    }
    (rows, errors)
}

/// Each row's member id. A row with a 编号 keeps it. A row without one is the member of that
/// name the village already has (`known`: this year's roster, last year's, the member
/// accounts), so that importing the file again, or next year's file, neither adds everyone
/// twice nor moves an id (and the account that holds it) to someone else; a name two known
/// members share needs a 编号. A new member gets `{village}-m01`, `-m02`, ... skipping every id the
/// village has used.
pub fn assign_ids(
    village: &VillageId,
    rows: Vec<RosterRow>,
    known: &[(MemberId, Name)],
) -> Result<Vec<(MemberId, RosterRow)>, RosterError> {
    assign_ids_avoiding(village, rows, known, &[])
}

/// [`assign_ids`], never making one of `taken` (the names of other accounts: a member numbered
/// so could have no account of their own).
pub fn assign_ids_avoiding(
    village: &VillageId,
    rows: Vec<RosterRow>,
    known: &[(MemberId, Name)],
    taken: &[MemberId],
) -> Result<Vec<(MemberId, RosterRow)>, RosterError> {
    let mut used: Vec<MemberId> = known.iter().map(|(id, _)| id.clone()).collect();
    used.extend(taken.iter().cloned());
    let explicit: Vec<MemberId> = rows.iter().filter_map(|r| r.id.clone()).collect();
    used.extend(explicit.iter().cloned());
    let mut errors = Vec::new();
    // Two rows of one name without a 编号: two members made now, and the file imported again
    // could not tell them apart.
    for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.id.is_none()) {
        if let Some(first) = rows[..i].iter().find(|o| o.id.is_none() && o.member.name == r.member.name) {
            errors.push(format!(
                "第 {} 行和第 {} 行都叫「{}」，又都没有编号：请在「编号」列写明，否则再次导入时分不清是哪一位",
                first.line, r.line, r.member.name
            ));
        }
    }
    let mut n = 0;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id = match &r.id {
            Some(id) => id.clone(),
            None => {
                // A name kept padded (周　明, by a phone or an earlier import) is the same name.
                let mut same: Vec<&MemberId> = known
                    .iter()
                    .filter(|(_, name)| unpadded(name.as_str()) == r.member.name.as_str())
                    .map(|(id, _)| id)
                    .collect();
                same.sort();
                same.dedup();
                same.retain(|id| {
                    !explicit.contains(id) && !out.iter().any(|(taken, _): &(MemberId, RosterRow)| taken == *id)
                });
                match same[..] {
                    [one] => one.clone(),
                    [] => match fresh(village, &mut n, &mut used) {
                        Some(id) => id,
                        None => {
                            errors.push(format!(
                                "第 {} 行：村编号「{village}」太长，无法自动生成党员编号，请在「编号」列为每人填写",
                                r.line
                            ));
                            continue;
                        }
                    },
                    ref many => {
                        let ids: Vec<String> = many.iter().map(ToString::to_string).collect();
                        errors.push(format!(
                            "第 {} 行：村里有 {} 位党员叫「{}」（{}），请在「编号」列写明是哪一位",
                            r.line,
                            many.len(),
                            r.member.name,
                            ids.join("、")
                        ));
                        continue;
                    }
                }
            }
        };
        out.push((id, r));
    }
    if errors.is_empty() { Ok(out) } else { Err(RosterError(errors)) }
}

/// The next `{village}-mNN` not in `used` (and now in it), or None when the village's id is
/// too long to make member ids from.
fn fresh(village: &VillageId, n: &mut u32, used: &mut Vec<MemberId>) -> Option<MemberId> {
    loop {
        *n += 1;
        let candidate = MemberId::parse(&format!("{village}-m{n:02}")).ok()?;
        if !used.contains(&candidate) {
            used.push(candidate.clone());
            return Some(candidate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clerks_roster_is_read() {
        let text = "\u{feff}姓名,党小组,正式/预备,支委,入党日期\n王建国,第一党小组,正式,是,1985-07-01\n李秀英,第二党小组,预备,否,2025/6/1\n张三,,正式,,\n";
        let rows = parse(text).expect("valid");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].member.name.as_str(), "王建国");
        assert!(rows[0].member.committee);
        assert_eq!(rows[1].member.status, MemberStatus::Probationary);
        assert_eq!(rows[1].member.joined_on.map(|d| d.to_string()).as_deref(), Some("2025-06-01"));
        assert_eq!(rows[2].member.group, None);
    }

    #[test]
    fn bad_rows_refuse_the_whole_file_with_line_numbers() {
        let text = "姓名,党小组,正式/预备,支委,入党日期\n王建国,第一党小组,正式,是,1985-07-01\n,第一党小组,正式,否,\n李四,第一党小组,候补,否,\n赵五,,正式,也许,去年\n";
        let err = parse(text).expect_err("bad rows");
        assert_eq!(
            err.0,
            [
                "第 3 行：姓名不能为空",
                "第 4 行：「正式/预备」应填“正式”或“预备”，不是「候补」",
                "第 5 行：「支委」应填“是”或“否”，不是「也许」",
                "第 5 行：入党日期「去年」看不懂，请写成 1998-07-01",
            ]
        );
    }

    #[test]
    fn the_day_a_member_became_full_is_read_when_given() {
        let text = "姓名,正式/预备,入党日期,转正日期\n王建国,正式,2025-03-01,2026-03-01\n李秀英,正式,1990-07-01,\n";
        let rows = parse(text).expect("valid");
        assert_eq!(rows[0].member.full_on.map(|d| d.to_string()).as_deref(), Some("2026-03-01"));
        assert_eq!(rows[1].member.full_on, None);
        let err = parse("姓名,正式/预备,转正日期\n王建国,预备,2026-03-01\n张三,正式,明年\n").expect_err("bad rows");
        assert_eq!(
            err.0,
            [
                "第 2 行：预备党员不应填转正日期；已转正的请在「正式/预备」填“正式”",
                "第 3 行：转正日期「明年」看不懂，请写成 2026-07-01",
            ]
        );
    }

    #[test]
    fn the_day_a_member_came_is_read_when_given_and_kept_when_left_blank() {
        let text = "姓名,正式/预备,转入日期\n王建国,正式,2026年3月15日\n李秀英,正式,\n";
        let rows = parse(text).expect("valid");
        assert_eq!(rows[0].member.arrived_on.map(|d| d.to_string()).as_deref(), Some("2026-03-15"));
        assert_eq!(rows[1].member.arrived_on, None);
        let mut known = rows[1].member.clone();
        known.arrived_on = rows[0].member.arrived_on;
        assert_eq!(rows[1].update(&known).arrived_on, known.arrived_on, "a blank cell keeps the day");
        let err = parse("姓名,正式/预备,转入日期\n张三,正式,上个月\n").expect_err("bad row");
        assert_eq!(err.0, ["第 2 行：转入日期「上个月」看不懂，请写成 2026-03-15"]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let err = parse("名字,党小组\n王建国,一组\n").expect_err("no name column");
        assert_eq!(err.0[0], "第 1 行：表头缺少「姓名」列");
    }

    fn known(pairs: &[(&str, &str)]) -> Vec<(MemberId, Name)> {
        pairs.iter().map(|(id, name)| (MemberId::parse(id).expect("id"), Name::parse(name).expect("name"))).collect()
    }

    fn ids(rows: Vec<(MemberId, RosterRow)>) -> Vec<String> {
        rows.into_iter().map(|(id, _)| id.to_string()).collect()
    }

    #[test]
    fn ids_are_assigned_after_those_taken() {
        let v = VillageId::parse("v1").expect("id");
        let rows = parse("姓名,正式/预备\n甲,正式\n乙,正式\n").expect("valid");
        assert_eq!(ids(assign_ids(&v, rows, &known(&[("v1-m01", "丙")])).expect("ids")), ["v1-m02", "v1-m03"]);
    }

    #[test]
    fn a_member_the_village_has_keeps_their_id_and_a_shared_name_needs_a_number() {
        let v = VillageId::parse("v1").expect("id");
        // Imported again, or next year with 乙 gone: 甲 and 丙 keep their ids, and no one gets
        // 乙's (an account holds it).
        let village = known(&[("v1-m01", "甲"), ("v1-m02", "乙"), ("v1-m03", "丙"), ("v1-m01", "甲")]);
        let rows = parse("姓名,正式/预备\n丙,正式\n甲,正式\n丁,正式\n").expect("valid");
        assert_eq!(ids(assign_ids(&v, rows, &village).expect("ids")), ["v1-m03", "v1-m01", "v1-m04"]);
        // An id the file gives is not matched by name to another row.
        let rows = parse("姓名,正式/预备,编号\n甲,正式,\n甲,正式,v1-m01\n").expect("valid");
        assert_eq!(ids(assign_ids(&v, rows, &village).expect("ids")), ["v1-m04", "v1-m01"]);

        let twins = known(&[("v1-m01", "王芳"), ("v1-m02", "王芳")]);
        let rows = parse("姓名,正式/预备\n甲,正式\n乙,正式\n").expect("valid");
        let taken = [MemberId::parse("v1-m01").expect("id")];
        let given = assign_ids_avoiding(&v, rows, &[], &taken).expect("ids");
        assert_eq!(ids(given), ["v1-m02", "v1-m03"], "an id another account holds is skipped");

        let rows = parse("姓名,正式/预备\n\n王芳,正式\n").expect("valid");
        let err = assign_ids(&v, rows, &twins).expect_err("which one");
        assert_eq!(err.0, ["第 3 行：村里有 2 位党员叫「王芳」（v1-m01、v1-m02），请在「编号」列写明是哪一位"]);

        // A row typed with full-width commas, a day before 1900, a day no calendar has.
        let err =
            parse("姓名,正式/预备,入党日期\n王建国，正式，1985-07-01\n李四,正式,1890-01-01\n赵五,正式,2001-02-30\n")
                .expect_err("bad rows");
        assert!(err.0[0].starts_with("第 2 行：用了中文逗号"), "{err:?}");
        assert_eq!(err.0[1], "第 3 行：入党日期：日期「1890-01-01」不在 1900 到 2100 年之间");
        assert!(err.0[2].starts_with("第 4 行：入党日期：日期「2001-02-30」不存在"), "{err:?}");

        // Padding is no part of a Chinese name: 周　明 is 周明, whom a later row may name unpadded.
        let rows = parse("姓名,正式/预备\n周　明,正式\nAnna Li,正式\n").expect("valid");
        let names: Vec<&str> = rows.iter().map(|r| r.member.name.as_str()).collect();
        assert_eq!(names, ["周明", "Anna Li"]);
        // The village's member kept padded is the same member, not a new one.
        let padded = known(&[("v1-m07", "周　明")]);
        assert_eq!(ids(assign_ids(&v, rows, &padded).expect("ids"))[0], "v1-m07");

        // Two of one name in the file, both without a 编号: refused now, not when imported again.
        let rows = parse(
            "姓名,正式/预备
周九,正式
李四,正式
周九,预备
",
        )
        .expect("valid");
        let err = assign_ids(&v, rows, &[]).expect_err("which is which");
        assert_eq!(
            err.0,
            ["第 2 行和第 4 行都叫「周九」，又都没有编号：请在「编号」列写明，否则再次导入时分不清是哪一位"]
        );
    }

    #[test]
    fn a_file_updates_what_it_gives_and_keeps_the_rest() {
        let mut existing = Member::new(Name::parse("李四").expect("name"), MemberStatus::Full);
        existing.group = Some(Name::parse("第一党小组").expect("group"));
        existing.joined_on = Some(Date::parse("1990-07-01").expect("date"));
        existing.left_on = Some(Date::parse("2026-05-01").expect("date"));
        existing.committee = true;
        let rows = parse("姓名,正式/预备,党小组,入党日期\n李四,正式,,\n").expect("valid");
        let updated = rows[0].update(&existing);
        assert_eq!(updated, existing, "blank cells, a column the file lacks and the day of leaving stay");
        let rows = parse("姓名,正式/预备,支委,党小组\n李四,预备,,第二党小组\n").expect("valid");
        let updated = rows[0].update(&existing);
        assert_eq!((updated.status, updated.committee), (MemberStatus::Probationary, false));
        assert_eq!(updated.group.as_ref().map(|g| g.as_str()), Some("第二党小组"));
        assert_eq!(updated.left_on, existing.left_on);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_line_breaks() {
        let text = "姓名,正式/预备,党小组\n\n王五,候补,\n\"赵六\",正式,\"第一\n党小组\"\n\n\n孙七,候补,\n";
        let err = parse(text).expect_err("bad");
        assert_eq!(
            err.0,
            [
                "第 3 行：「正式/预备」应填“正式”或“预备”，不是「候补」",
                "第 4 行：党小组只能写一行，不能换行",
                "第 8 行：「正式/预备」应填“正式”或“预备”，不是「候补」",
            ]
        );
    }

    #[test]
    fn a_village_id_too_long_for_member_ids_and_a_repeated_id_are_refused_not_a_panic() {
        let v = VillageId::parse(&"v".repeat(62)).expect("a long but valid village id");
        let rows = parse("姓名,正式/预备\n甲,正式\n").expect("valid");
        let err = assign_ids(&v, rows, &[]).expect_err("no id can be made");
        assert!(err.0[0].starts_with("第 2 行"), "{err}");
        assert!(err.0[0].contains("太长") && err.0[0].contains("编号"), "{err}");

        let err = parse("姓名,正式/预备,编号\n甲,正式,a1\n乙,正式,a2\n丙,正式,a1\n").expect_err("repeated");
        assert_eq!(err.0, ["第 4 行：编号「a1」与第 2 行重复"]);
    }
}
