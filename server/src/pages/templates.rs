//! The page templates (minijinja), compiled into the binary with `include_str!`. Auto-escaping
//! is on for every `.html` template, so text from records (topics, names, notes) is always
//! shown as text and never becomes markup. Undefined values are errors, so a misspelt field
//! fails the tests instead of rendering as blank.

use std::sync::LazyLock;

use axum::response::Html;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::error::PageError;
use super::session::ViewerInfo;

const TEMPLATES: [(&str, &str); 12] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("townships.html", include_str!("../../templates/townships.html")),
    ("dashboard.html", include_str!("../../templates/dashboard.html")),
    ("village.html", include_str!("../../templates/village.html")),
    ("book.html", include_str!("../../templates/book.html")),
    ("history.html", include_str!("../../templates/history.html")),
    ("me.html", include_str!("../../templates/me.html")),
    ("password.html", include_str!("../../templates/password.html")),
    ("grade_bar.html", include_str!("../../templates/grade_bar.html")),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        if let Err(e) = env.add_template(name, source) {
            panic!("template {name} does not parse: {e:#}");
        }
    }
    env
});

/// Everything a page template gets: its title, who is looking (for the header), and the
/// page's own view model as `page`.
#[derive(Debug, Serialize)]
struct Context<'a, T: Serialize> {
    title: &'a str,
    viewer: Option<&'a ViewerInfo>,
    page: &'a T,
}

/// Renders a page template.
pub fn render<T: Serialize>(
    name: &str,
    title: &str,
    viewer: Option<&ViewerInfo>,
    page: &T,
) -> Result<Html<String>, PageError> {
    let template = ENV.get_template(name).map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
    let html =
        template.render(Context { title, viewer, page }).map_err(|e| anyhow::anyhow!("rendering {name}: {e:#}"))?;
    Ok(Html(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(ENV.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn record_text_is_escaped() {
        let page = serde_json::json!({"status": 404, "heading": "<b>x</b>", "message": "<script>alert(1)</script>"});
        let Html(html) = render("error.html", "出错了", None, &page).expect("renders");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }
}
