//! Typed reads of one Automerge map, recording a violation for every field that is missing or
//! malformed. Strings are accepted as scalars or as Automerge text, numbers as int, uint or a
//! whole f64: other Automerge implementations write them so.

use std::fmt::Display;

use automerge::ScalarValue;
use automerge::hydrate::{Map, Value};

use crate::{Collection, Rule, Violation};

pub(crate) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(ScalarValue::Str(s)) => Some(s.to_string()),
        Value::Text(t) => Some(t.to_string()),
        _ => None,
    }
}

pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Scalar(ScalarValue::Int(i)) => Some(*i),
        Value::Scalar(ScalarValue::Uint(u)) => i64::try_from(*u).ok(),
        Value::Scalar(ScalarValue::F64(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
        _ => None,
    }
}

/// Reads the fields of one record; `ok` turns false at the first problem.
pub(crate) struct Fields<'a> {
    map: &'a Map,
    collection: Collection,
    record: &'a str,
    prefix: String,
    problems: &'a mut Vec<Violation>,
    pub(crate) ok: bool,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(
        map: &'a Map,
        collection: Collection,
        record: &'a str,
        prefix: String,
        problems: &'a mut Vec<Violation>,
    ) -> Self {
        Fields { map, collection, record, prefix, problems, ok: true }
    }

    pub(crate) fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}.{key}", self.prefix) }
    }

    pub(crate) fn problem(&mut self, key: &str, rule: Rule, message: String) {
        self.ok = false;
        let field = self.path(key);
        self.problems.push(Violation::new(self.collection, self.record, field, rule, message));
    }

    fn text(&mut self, key: &str) -> Option<Option<String>> {
        match self.map.get(key) {
            None | Some(Value::Scalar(ScalarValue::Null)) => Some(None),
            Some(v) => match as_string(v) {
                Some(s) => Some(Some(s)),
                None => {
                    self.problem(key, Rule::BadValue, "应为文字".to_owned());
                    None
                }
            },
        }
    }

    /// A required text field, parsed.
    pub(crate) fn req<T, E: Display>(&mut self, key: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        match self.text(key)? {
            None => {
                self.problem(key, Rule::MissingField, "缺少此项".to_owned());
                None
            }
            Some(s) => self.parse(key, &s, parse),
        }
    }

    /// An optional text field, parsed; `None` only when present and malformed.
    pub(crate) fn opt<T, E: Display>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match self.text(key)? {
            None => Some(None),
            Some(s) => self.parse(key, &s, parse).map(Some),
        }
    }

    fn parse<T, E: Display>(&mut self, key: &str, s: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Option<T> {
        match parse(s) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(key, Rule::BadValue, e.to_string());
                None
            }
        }
    }

    pub(crate) fn int(&mut self, key: &str) -> Option<i64> {
        match self.map.get(key) {
            None => {
                self.problem(key, Rule::MissingField, "缺少此项".to_owned());
                None
            }
            Some(v) => as_int(v).or_else(|| {
                self.problem(key, Rule::BadValue, "应为整数".to_owned());
                None
            }),
        }
    }

    pub(crate) fn bool_or_false(&mut self, key: &str) -> Option<bool> {
        match self.map.get(key) {
            None | Some(Value::Scalar(ScalarValue::Null)) => Some(false),
            Some(Value::Scalar(ScalarValue::Boolean(b))) => Some(*b),
            Some(_) => {
                self.problem(key, Rule::BadValue, "应为 true 或 false".to_owned());
                None
            }
        }
    }

    /// A nested map, if present; a non-map value is a problem.
    pub(crate) fn map(&mut self, key: &str) -> Option<Option<&'a Map>> {
        match self.map.get(key) {
            None | Some(Value::Scalar(ScalarValue::Null)) => Some(None),
            Some(Value::Map(m)) => Some(Some(m)),
            Some(_) => {
                self.problem(key, Rule::BadValue, "应为键值表".to_owned());
                None
            }
        }
    }

    /// Reads a nested record with the same collection and record id.
    pub(crate) fn nested<T>(
        &mut self,
        key: &str,
        m: &Map,
        read: impl FnOnce(&mut Fields<'_>) -> Option<T>,
    ) -> Option<T> {
        let prefix = self.path(key);
        let mut inner = Fields::new(m, self.collection, self.record, prefix, self.problems);
        let v = read(&mut inner);
        let ok = inner.ok;
        self.ok &= ok;
        if ok { v } else { None }
    }
}
