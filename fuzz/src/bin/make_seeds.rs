//! Writes each target's seeds (valid inputs) to `DIR/<target>/`.

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: make_seeds DIR"));
    for target in zhibu_tests::fuzz_targets::Target::ALL {
        let d = dir.join(target.name());
        std::fs::create_dir_all(&d).expect("seed folder");
        for (name, data) in zhibu_tests::fuzz_targets::seeds(target) {
            std::fs::write(d.join(name), data).expect("seed");
        }
    }
}
