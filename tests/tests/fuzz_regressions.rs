//! Every decoder of outside input against the inputs that once crashed it (kept under
//! `tests/fixtures/fuzz/<target>/` by `scripts/fuzz.sh`), against its seeds, and against
//! arbitrary and mutated bytes: each returns, with `Err` for the crashing inputs, and never
//! panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use proptest::prelude::*;
use zhibu_tests::fuzz_targets::{Target, seeds};

fn run(target: Target, data: &[u8]) -> Result<Result<(), String>, String> {
    catch_unwind(AssertUnwindSafe(|| target.run(data))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[test]
fn inputs_that_once_crashed_are_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fuzz");
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    for target in Target::ALL {
        let dir = root.join(target.name());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // A target may have no crash of its own yet; one folder missing of all is a mistake.
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).expect("fixture");
            match run(target, &data) {
                Err(panic) => failures.push(format!("{}: {} panics: {panic}", target.name(), path.display())),
                Ok(Ok(())) => failures.push(format!("{}: {} is accepted, not refused", target.name(), path.display())),
                Ok(Err(_)) => checked += 1,
            }
        }
    }
    let total = failures.len() + checked;
    // The fixtures are in the repository: finding none means the test checked nothing.
    assert!(total >= 90, "only {total} fixtures found under {}", root.display());
    assert!(failures.is_empty(), "{} of {total} fixtures fail:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{checked} fixtures refused without a panic");
}

#[test]
fn the_seeds_are_accepted() {
    for target in Target::ALL {
        for (name, data) in seeds(target) {
            assert!(!data.is_empty(), "{}/{name} is empty", target.name());
            match run(target, &data) {
                Ok(Ok(())) => {}
                other => panic!("{}/{name}: {other:?}", target.name()),
            }
        }
    }
}

/// A seed of the target with some bytes changed, some cut, some inserted.
fn mutated() -> impl Strategy<Value = (Target, Vec<u8>)> {
    let targets = prop::sample::select(Target::ALL.to_vec());
    (targets, any::<u64>(), prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8)).prop_map(
        |(target, pick, edits)| {
            let all = seeds(target);
            let mut data = all[(pick % all.len() as u64) as usize].1.clone();
            for (at, byte, kind) in edits {
                if data.is_empty() {
                    data.push(byte);
                    continue;
                }
                let i = at as usize % data.len();
                match kind {
                    0 => data[i] = byte,
                    1 => data.truncate(i),
                    _ => data.insert(i, byte),
                }
            }
            (target, data)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(target in prop::sample::select(Target::ALL.to_vec()), data in prop::collection::vec(any::<u8>(), 0..2048)) {
        prop_assert!(run(target, &data).is_ok(), "{} panics on {:?}", target.name(), data);
    }

    #[test]
    fn mutated_seeds_never_panic((target, data) in mutated()) {
        prop_assert!(run(target, &data).is_ok(), "{} panics on {:?}", target.name(), data);
    }
}
