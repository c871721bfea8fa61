//! Case 5: the phone opens its store holding a busy village-year (the first sync's) and
//! computes every member's score and the compliance table, as the app's home screen does.
//! Each is timed `samples` times; the figures are the medians.

use std::path::Path;
use std::time::Instant;

use zhibu_client::Phone;
use zhibu_schema::Period;

use super::Figures;
use super::figures::{ms_since, percentile};

pub fn run(figures: &mut Figures, dir: &Path, samples: usize) -> anyhow::Result<()> {
    let year = super::year();
    let as_of = zhibu_client::clock::today()?;
    let (mut open, mut scores) = (Vec::new(), Vec::new());
    for _ in 0..samples.max(1) {
        let t0 = Instant::now();
        let phone = Phone::open(dir)?;
        open.push(ms_since(t0));
        let t1 = Instant::now();
        let s = phone.scores(year)?;
        let c = phone.compliance(year, Period::Year, as_of)?;
        scores.push(ms_since(t1));
        anyhow::ensure!(s.len() == super::data::MEMBERS && !c.is_empty(), "the phone's figures are incomplete");
    }
    figures.add("client_open_ms", percentile(&open, 50.0), "ms");
    figures.add("client_scores_ms", percentile(&scores, 50.0), "ms");
    Ok(())
}
