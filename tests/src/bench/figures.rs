//! The benchmark's output: one line per figure, `name value unit`, as soon as it is known;
//! notes (the scale, what was skipped and why) as lines starting with `#`. With `--json`,
//! one JSON object at the end instead, and the notes on stderr.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

#[derive(Debug, Default)]
pub struct Figures {
    pub json: bool,
    pub list: Vec<Figure>,
    pub notes: Vec<String>,
}

/// Whole numbers print without decimals, others with two.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.2}") }
}

impl Figures {
    pub fn new(json: bool) -> Figures {
        Figures { json, ..Figures::default() }
    }

    pub fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        let f = Figure { name: name.into(), value, unit };
        if !self.json {
            println!("{} {} {}", f.name, format_value(f.value), f.unit);
        }
        self.list.push(f);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        if self.json {
            eprintln!("# {text}");
        } else {
            println!("# {text}");
        }
        self.notes.push(text);
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.list.iter().find(|f| f.name == name).map(|f| f.value)
    }

    pub fn to_json(&self, mode: &str, scale: Value) -> Value {
        json!({
            "mode": mode,
            "scale": scale,
            "figures": self.list.iter().map(|f| json!({"name": f.name, "value": f.value, "unit": f.unit})).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

/// The `p`-th percentile (0 to 100) of some samples, by nearest rank.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Milliseconds since `start`.
pub fn ms_since(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
    }

    #[test]
    fn values_print_whole_or_with_two_decimals() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(2.5), "2.50");
    }
}
