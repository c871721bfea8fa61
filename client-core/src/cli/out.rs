//! Output: Chinese text for people on stdout, or JSON for scripts; errors on stderr (and as a
//! JSON object on stdout with `--json`).

use crate::ClientError;
use serde::Serialize;
use serde_json::json;

/// Writes a line to stdout. A reader that went away (`zhibu score 王一 | head`) is no error of
/// the cadre's: the rest of the output is dropped, where `println!` would panic.
pub(crate) fn line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `human` for people, or `data` as JSON.
    pub fn show(&self, human: impl FnOnce() -> String, data: &impl Serialize) {
        if self.json {
            line(&serde_json::to_string_pretty(data).expect("output serializes"));
        } else {
            let text = human();
            if !text.is_empty() {
                line(text.trim_end());
            }
        }
    }

    /// Reports a failure.
    pub fn error(&self, e: &anyhow::Error, code: u8) {
        let client = e.chain().find_map(|c| c.downcast_ref::<ClientError>());
        let violations = match client {
            Some(ClientError::Refused(r)) => r.violations.clone(),
            Some(ClientError::ServerRefused(r)) => r.violations.clone(),
            _ => Vec::new(),
        };
        if self.json {
            let body = json!({"error": {"exit_code": code, "message": format!("{e:#}"), "violations": violations}});
            line(&serde_json::to_string_pretty(&body).expect("serializes"));
        }
        eprintln!("错误：{e:#}");
        if matches!(client, Some(ClientError::ServerRefused(_))) {
            for v in &violations {
                eprintln!("  - {v}");
            }
            eprintln!("{}", super::cmd::rebuild_hint(None));
        }
    }
}

/// `text` padded with spaces to `width` columns of a terminal, where a Chinese character takes
/// two (`format!("{:<8}")` counts characters, which misaligns Chinese columns).
pub fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// The short form of a record id that `zhibu` shows and accepts: its last 8 characters.
pub fn short(id: &impl ToString) -> String {
    let id = id.to_string();
    id[id.len().saturating_sub(8)..].to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn chinese_columns_are_padded_by_their_width_on_screen() {
        assert_eq!(super::pad("王芳", 8), "王芳    ");
        assert_eq!(super::pad("v1-m01", 8), "v1-m01  ");
        assert_eq!(super::pad("支部党员大会", 8), "支部党员大会", "never cut");
    }
}
