//! Loading a township's catalog file (TOML, or JSON). A file is parsed, then checked with
//! [`Catalog::check`]; every problem is reported with the line it is on, so a township clerk
//! can fix the file without reading code.

use std::fmt;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use toml::Spanned;

use super::{Catalog, CatalogIssue, CatalogPath};

/// One problem in a catalog file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIssue {
    /// 1-based line number, when it could be located.
    pub line: Option<usize>,
    pub message: String,
}

/// A catalog file that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogFileError {
    pub issues: Vec<FileIssue>,
}

impl fmt::Display for CatalogFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "目录文件有 {} 处错误", self.issues.len())?;
        for issue in &self.issues {
            match issue.line {
                Some(line) => write!(f, "\n  第 {line} 行：{}", issue.message)?,
                None => write!(f, "\n  {}", issue.message)?,
            }
        }
        Ok(())
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Byte offsets of the parts of a file that a [`CatalogPath`] can name.
#[derive(Debug, Default)]
struct Offsets {
    fields: Vec<(&'static str, usize)>,
    grades: Vec<usize>,
    rules: Vec<usize>,
    meetings: Vec<usize>,
    items: Vec<(usize, Vec<usize>)>,
}

impl Offsets {
    /// Where the record holding the field at `path` (`items[3].steps[1].x`, `meetings[0].y`,
    /// `z`) starts: the start of the file for a field at the top.
    fn base_of(&self, path: &str) -> usize {
        let index = |part: &str| -> Option<(String, usize)> {
            let (name, rest) = part.split_once('[')?;
            Some((name.to_owned(), rest.strip_suffix(']')?.parse().ok()?))
        };
        let mut parts = path.split('.');
        let top = parts.next().and_then(index);
        let step = parts.next().and_then(index);
        let found = match (top, step) {
            (Some((list, i)), Some((steps, j))) if list == "items" && steps == "steps" => {
                self.of(CatalogPath::Step { item: i, step: j }).or_else(|| self.of(CatalogPath::Item(i)))
            }
            (Some((list, i)), _) => match list.as_str() {
                "grades" => self.of(CatalogPath::Grade(i)),
                "point_rules" => self.of(CatalogPath::Rule(i)),
                "meetings" => self.of(CatalogPath::Meeting(i)),
                "items" => self.of(CatalogPath::Item(i)),
                _ => None,
            },
            _ => None,
        };
        found.unwrap_or(0)
    }

    fn of(&self, path: CatalogPath) -> Option<usize> {
        match path {
            CatalogPath::Field(name) => self.fields.iter().find(|(n, _)| *n == name).map(|(_, o)| *o),
            CatalogPath::Grade(i) => self.grades.get(i).copied(),
            CatalogPath::Rule(i) => self.rules.get(i).copied(),
            CatalogPath::Meeting(i) => self.meetings.get(i).copied(),
            CatalogPath::Item(i) => self.items.get(i).map(|(o, _)| *o),
            CatalogPath::Step { item, step } => self.items.get(item).and_then(|(_, s)| s.get(step)).copied(),
        }
    }

    fn report(&self, text: &str, issues: Vec<CatalogIssue>) -> CatalogFileError {
        let issues = issues
            .into_iter()
            .map(|i| FileIssue {
                line: self.of(i.path).map(|o| line_of(text, o)),
                message: format!("{}（{}）", i.message, i.path),
            })
            .collect();
        CatalogFileError { issues }
    }
}

#[derive(Deserialize)]
struct TomlLayout {
    base_score: Option<Spanned<IgnoredAny>>,
    case_deadline_days: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    grades: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    point_rules: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    meetings: Vec<Spanned<IgnoredAny>>,
    #[serde(default)]
    items: Vec<Spanned<TomlItem>>,
}

#[derive(Deserialize)]
struct TomlItem {
    #[serde(default)]
    steps: Vec<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
struct JsonLayout<'a> {
    #[serde(borrow)]
    base_score: Option<&'a RawValue>,
    #[serde(borrow)]
    case_deadline_days: Option<&'a RawValue>,
    #[serde(borrow, default)]
    grades: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    point_rules: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    meetings: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct JsonItem<'a> {
    #[serde(borrow, default)]
    steps: Vec<&'a RawValue>,
}

fn with_list_fields(mut o: Offsets) -> Offsets {
    let firsts = [
        ("grades", o.grades.first().copied()),
        ("point_rules", o.rules.first().copied()),
        ("meetings", o.meetings.first().copied()),
        ("items", o.items.first().map(|(i, _)| *i)),
    ];
    o.fields.extend(firsts.into_iter().filter_map(|(n, at)| Some((n, at?))));
    o
}

/// A file's catalog as parsed, then checked ([`Catalog::check`]), every problem placed on its
/// line by `offsets`. It is refused also if the file names a field the catalog does not have:
/// the catalog's types accept fields they do not know, so that a phone reads the catalog of a
/// newer server, but a field a clerk misspelt in a file would otherwise be silently left out.
fn checked<E>(
    text: &str,
    parsed: Result<Catalog, E>,
    unknown: Vec<String>,
    offsets: impl Fn() -> Offsets,
    issue: impl Fn(E) -> FileIssue,
) -> Result<Catalog, CatalogFileError> {
    let placed = if unknown.is_empty() { Offsets::default() } else { offsets() };
    let mut issues: Vec<FileIssue> = unknown
        .iter()
        .map(|path| {
            let key = path.rsplit(['.', ']']).next().unwrap_or(path);
            let line = key_line(text, placed.base_of(path), key);
            FileIssue { line, message: format!("没有叫「{key}」的字段（{path}），请检查拼写") }
        })
        .collect();
    match parsed {
        Ok(catalog) if issues.is_empty() => match catalog.check() {
            problems if problems.is_empty() => return Ok(catalog),
            problems => return Err(offsets().report(text, problems)),
        },
        Ok(_) => {}
        Err(e) => issues.push(issue(e)),
    }
    Err(CatalogFileError { issues })
}

/// Where a field is, as a clerk would name it: `items[1].fee`.
fn path_text(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", path_text(parent)),
        Path::Map { parent, key } => match path_text(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => path_text(parent),
    }
}

/// The line that sets `key` (TOML `key =`, also inside an inline table, or JSON `"key":`),
/// the first at or after the byte `from` (where the record holding it starts).
fn key_line(text: &str, from: usize, key: &str) -> Option<usize> {
    let first = line_of(text, from);
    let sets = |line: &str| {
        let quoted = format!("\"{key}\"");
        [key, quoted.as_str()].into_iter().any(|k| {
            line.match_indices(k).any(|(at, _)| {
                let before = line[..at].trim_end();
                let after = line[at + k.len()..].trim_start();
                (before.is_empty() || before.ends_with(['{', ',', '['])) && after.starts_with(['=', ':'])
            })
        })
    };
    text.lines().enumerate().skip(first - 1).find(|(_, line)| sets(line)).map(|(i, _)| i + 1)
}

/// Where the parts of a TOML file start.
fn toml_offsets(text: &str) -> Offsets {
    toml::from_str::<TomlLayout>(text)
        .map(|l| {
            let start = |s: &Spanned<IgnoredAny>| s.span().start;
            let mut fields = Vec::new();
            fields.extend(l.base_score.as_ref().map(|s| ("base_score", start(s))));
            fields.extend(l.case_deadline_days.as_ref().map(|s| ("case_deadline_days", start(s))));
            with_list_fields(Offsets {
                fields,
                grades: l.grades.iter().map(start).collect(),
                rules: l.point_rules.iter().map(start).collect(),
                meetings: l.meetings.iter().map(start).collect(),
                items: l
                    .items
                    .iter()
                    .map(|i| (i.span().start, i.get_ref().steps.iter().map(start).collect()))
                    .collect(),
            })
        })
        .unwrap_or_default()
}

/// Where the parts of a JSON file start.
fn json_offsets(text: &str) -> Offsets {
    // A borrowed RawValue is a slice of `text`, so its address gives its offset.
    let at = |raw: &RawValue| raw.get().as_ptr() as usize - text.as_ptr() as usize;
    serde_json::from_str::<JsonLayout<'_>>(text)
        .map(|l| {
            let mut fields = Vec::new();
            fields.extend(l.base_score.map(|r| ("base_score", at(r))));
            fields.extend(l.case_deadline_days.map(|r| ("case_deadline_days", at(r))));
            with_list_fields(Offsets {
                fields,
                grades: l.grades.iter().map(|r| at(r)).collect(),
                rules: l.point_rules.iter().map(|r| at(r)).collect(),
                meetings: l.meetings.iter().map(|r| at(r)).collect(),
                items: l
                    .items
                    .iter()
                    .map(|r| {
                        let steps = serde_json::from_str::<JsonItem<'_>>(r.get())
                            .map(|i| i.steps.iter().map(|s| at(s)).collect())
                            .unwrap_or_default();
                        (at(r), steps)
                    })
                    .collect(),
            })
        })
        .unwrap_or_default()
}

/// A parser's message as a township clerk reads it: the usual ones said in Chinese, any other
/// kept, after a Chinese lead, for whoever helps them.
/// serde's words for kinds of values (`integer \`-1\`, expected u32`), in Chinese.
fn kinds_in_chinese(rest: &str) -> String {
    let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let found = found
        .replace("integer ", "整数 ")
        .replace("floating point ", "小数 ")
        .replace("string ", "文字 ")
        .replace("boolean ", "是非值 ")
        .replace('`', "");
    let expected = match expected.trim() {
        "" => String::new(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "，应为不小于 0 的整数".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "，应为整数".to_owned(),
        "a boolean" => "，应为 true 或 false".to_owned(),
        "a string" => "，应为文字".to_owned(),
        other => format!("，应为 {other}"),
    };
    format!("{found}{expected}")
}

fn in_chinese(message: &str) -> String {
    let message = message.trim();
    let quoted = message.split('`').nth(1).unwrap_or_default();
    if message.starts_with("missing field ") {
        format!("缺少「{quoted}」这一项")
    } else if message.starts_with("unknown field ") {
        format!("不认识「{quoted}」这一项")
    } else if message.starts_with("unknown variant ") {
        // unknown variant `theme_dya`, expected one of `branch_assembly`, `branch_committee`, …
        let allowed: Vec<&str> = message.split('`').skip(3).step_by(2).collect();
        format!("「{quoted}」不是可选的值（可选：{}）", allowed.join("、"))
    } else if let Some(rest) = message.strip_prefix("invalid type: ") {
        format!("值的类型不对（{}）", kinds_in_chinese(rest))
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        format!("值不对（{}）", kinds_in_chinese(rest))
    } else if message.starts_with("duplicate key") || message.starts_with("duplicate field") {
        format!("「{quoted}」写了两次")
    } else {
        format!("文件格式不对（{message}）")
    }
}

impl Catalog {
    /// Parses and checks a TOML catalog file.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogFileError> {
        let mut unknown = Vec::new();
        let parsed = toml::de::Deserializer::parse(text)
            .and_then(|d| serde_ignored::deserialize(d, |path| unknown.push(path_text(&path))));
        checked(
            text,
            parsed,
            unknown,
            || toml_offsets(text),
            |e: toml::de::Error| FileIssue {
                line: e.span().map(|s| line_of(text, s.start)),
                message: in_chinese(e.message()),
            },
        )
    }

    /// Parses and checks a JSON catalog file (the same layout as the TOML one, and as
    /// `GET /v1/catalog` returns).
    pub fn from_json_str(text: &str) -> Result<Catalog, CatalogFileError> {
        let mut unknown = Vec::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = serde_ignored::deserialize(&mut de, |path| unknown.push(path_text(&path)))
            .and_then(|c| de.end().map(|()| c));
        checked(
            text,
            parsed,
            unknown,
            || json_offsets(text),
            |e: serde_json::Error| {
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                FileIssue { line: Some(e.line()), message: in_chinese(message) }
            },
        )
    }

    /// Loads a catalog file by its name: `.json` as JSON, anything else as TOML.
    pub fn from_file_text(file_name: &str, text: &str) -> Result<Catalog, CatalogFileError> {
        if file_name.to_ascii_lowercase().ends_with(".json") {
            Self::from_json_str(text)
        } else {
            Self::from_toml_str(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_CATALOG_TOML;
    use super::*;

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).expect(needle) + 1
    }

    #[test]
    fn an_empty_step_list_names_its_line() {
        let text = DEFAULT_CATALOG_TOML.replace(
            "steps = [\n  { code = \"application\", name = \"申请\" },\n  { code = \"verification\", name = \"核实\" },\n  { code = \"issue\", name = \"出具\" },\n]",
            "steps = []",
        );
        let err = Catalog::from_toml_str(&text).expect_err("empty steps");
        assert_eq!(err.issues.len(), 1, "{err}");
        let line = err.issues[0].line.expect("line");
        let item_line = line_containing(&text, "code = \"certificate\"");
        assert!((item_line - 1..=item_line).contains(&line), "line {line}, item at {item_line}");
        assert!(err.to_string().contains("事项「certificate」没有办理步骤"), "{err}");
    }

    #[test]
    fn overlapping_grades_name_their_line() {
        let text = DEFAULT_CATALOG_TOML.replacen("max = 89", "max = 95", 1);
        let err = Catalog::from_toml_str(&text).expect_err("overlap");
        let line = err.issues[0].line.expect("line");
        let excellent = line_containing(&text, "grade = \"excellent\"");
        assert!((excellent - 1..=excellent).contains(&line), "line {line}, excellent at {excellent}");
        assert!(err.to_string().contains("分数区间重叠"), "{err}");
    }

    #[test]
    fn an_unknown_code_names_its_line() {
        let text = DEFAULT_CATALOG_TOML.replace("kind = \"theme_day\"", "kind = \"theme_night\"");
        let err = Catalog::from_toml_str(&text).expect_err("unknown kind");
        assert_eq!(err.issues[0].line, Some(line_containing(&text, "theme_night")), "{err}");
    }

    #[test]
    fn a_misspelt_field_names_its_line() {
        let text = DEFAULT_CATALOG_TOML.replacen("min_count = 1", "min_cnt = 1", 1);
        let err = Catalog::from_toml_str(&text).expect_err("unknown field");
        let at = line_containing(&text, "min_cnt");
        assert_eq!(err.issues[0].line, Some(at), "{err}");
        assert!(err.issues[0].message.contains("没有叫「min_cnt」的字段"), "{err}");
    }

    #[test]
    fn a_field_a_file_adds_is_refused_with_its_line_but_a_server_reply_may_carry_it() {
        // A field the catalog does not know: refused in a township's file (TOML or JSON), where
        // it is a clerk's typo, but read past in what a newer server sends a phone.
        let toml = DEFAULT_CATALOG_TOML.replacen("min_count = 1", "min_count = 1\nreminder = true", 1);
        let err = Catalog::from_toml_str(&toml).expect_err("unknown field");
        assert_eq!(err.issues.len(), 1, "{err}");
        assert_eq!(err.issues[0].line, Some(line_containing(&toml, "reminder")), "{err}");
        assert!(err.to_string().contains("meetings[0].reminder"), "{err}");

        let mut json: serde_json::Value = serde_json::to_value(Catalog::default()).expect("json");
        json["reminders"] = serde_json::json!({"days": 3});
        json["items"][1]["fee"] = serde_json::json!(10);
        let pretty = serde_json::to_string_pretty(&json).expect("json");
        let err = Catalog::from_json_str(&pretty).expect_err("unknown fields");
        assert_eq!(err.issues.len(), 2, "{err}");
        assert!(err.issues.iter().all(|i| i.line.is_some()), "{err}");
        assert!(err.to_string().contains("items[1].fee"), "{err}");

        // Inside an inline table, and inside a notice rule (which serde reads through a buffer),
        // on the line of the record that holds it, not an earlier one with the same key.
        let toml = DEFAULT_CATALOG_TOML
            .replacen(
                "notice = { kind = \"days\", days = 7 }",
                "notice = { kind = \"days\", days = 7, where = \"公开栏\" }",
                1,
            )
            .replacen(
                "{ code = \"verification\", name = \"核实\" }",
                "{ code = \"verification\", name = \"核实\", nmae = \"x\" }",
                1,
            );
        let err = Catalog::from_toml_str(&toml).expect_err("unknown fields");
        let mut lines: Vec<Option<usize>> = err.issues.iter().map(|i| i.line).collect();
        lines.sort();
        let mut expected = [Some(line_containing(&toml, "nmae")), Some(line_containing(&toml, "where = "))];
        expected.sort();
        assert_eq!(lines, expected, "{err}");
        let toml = DEFAULT_CATALOG_TOML.replacen("grade = \"good\"", "grade = \"good\"\nname = \"良\"", 1);
        let err = Catalog::from_toml_str(&toml).expect_err("unknown field");
        let good = line_containing(&toml, "grade = \"good\"");
        assert_eq!(err.issues[0].line, Some(good + 1), "the grade's own line, not a rule's name: {err}");

        let read: Catalog = serde_json::from_value(json).expect("a newer server's catalog reads");
        assert_eq!(read, Catalog::default());
        let mut cbor = Vec::new();
        ciborium::into_writer(&serde_json::from_str::<serde_json::Value>(&pretty).expect("json"), &mut cbor)
            .expect("cbor");
        assert_eq!(ciborium::from_reader::<Catalog, _>(&cbor[..]).expect("cbor reads"), Catalog::default());
    }

    #[test]
    fn the_parsers_words_are_said_in_chinese() {
        let text = DEFAULT_CATALOG_TOML.replacen("late_entry_days = 7", "", 1);
        let err = Catalog::from_toml_str(&text).expect_err("missing");
        assert!(err.to_string().contains("缺少「late_entry_days」这一项"), "{err}");
        let err = Catalog::from_toml_str("base_score = [100\n").expect_err("syntax");
        assert!(err.to_string().contains("文件格式不对（"), "{err}");
        let err = Catalog::from_json_str("{\n\"base_score\": \"一百\"}").expect_err("type");
        assert!(err.to_string().contains("值的类型不对（") && !err.to_string().contains(" at line "), "{err}");
        let text = DEFAULT_CATALOG_TOML.replacen("late_entry_days = 7", "late_entry_days = -1", 1);
        let err = Catalog::from_toml_str(&text).expect_err("negative");
        assert!(err.to_string().contains("值不对（整数 -1，应为不小于 0 的整数）"), "{err}");
        let text = DEFAULT_CATALOG_TOML.replacen("\"theme_day\"", "\"theme_dya\"", 1);
        let err = Catalog::from_toml_str(&text).expect_err("a kind mistyped");
        assert!(err.to_string().contains("「theme_dya」不是可选的值（可选：branch_assembly、"), "{err}");
    }

    #[test]
    fn json_files_are_checked_with_lines_too() {
        let mut c = Catalog::default();
        c.items[2].steps.clear();
        let text = serde_json::to_string_pretty(&c).expect("json");
        assert_eq!(
            Catalog::from_json_str(&serde_json::to_string(&Catalog::default()).expect("json")),
            Ok(Catalog::default())
        );
        let err = Catalog::from_file_text("township.JSON", &text).expect_err("empty steps");
        let line = err.issues[0].line.expect("line");
        let item = line_containing(&text, "\"asset_disposal\"");
        assert!((item - 1..=item).contains(&line), "line {line}, item at {item}");
        let syntax = Catalog::from_json_str("{\n\"base_score\": }").expect_err("syntax");
        assert_eq!(syntax.issues[0].line, Some(2));
    }
}
