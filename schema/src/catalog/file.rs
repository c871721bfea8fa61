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

impl Catalog {
    /// Parses and checks a TOML catalog file.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogFileError> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| CatalogFileError {
            issues: vec![FileIssue {
                line: e.span().map(|s| line_of(text, s.start)),
                message: e.message().trim().to_owned(),
            }],
        })?;
        let issues = catalog.check();
        if issues.is_empty() {
            return Ok(catalog);
        }
        let offsets = toml::from_str::<TomlLayout>(text)
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
            .unwrap_or_default();
        Err(offsets.report(text, issues))
    }

    /// Parses and checks a JSON catalog file (the same layout as the TOML one, and as
    /// `GET /v1/catalog` returns).
    pub fn from_json_str(text: &str) -> Result<Catalog, CatalogFileError> {
        let catalog: Catalog = serde_json::from_str(text).map_err(|e| CatalogFileError {
            issues: vec![FileIssue { line: Some(e.line()), message: e.to_string() }],
        })?;
        let issues = catalog.check();
        if issues.is_empty() {
            return Ok(catalog);
        }
        // A borrowed RawValue is a slice of `text`, so its address gives its offset.
        let at = |raw: &RawValue| raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let offsets = serde_json::from_str::<JsonLayout<'_>>(text)
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
            .unwrap_or_default();
        Err(offsets.report(text, issues))
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
        let line = err.issues[0].line.expect("line");
        let at = line_containing(&text, "min_cnt");
        assert!((at - 6..=at).contains(&line), "line {line}, field at {at}: {err}");
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
