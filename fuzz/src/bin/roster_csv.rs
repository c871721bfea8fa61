//! AFL++ target `roster_csv`: see `zhibu_tests::fuzz_targets`. Panics caught inside the decoders (their
//! guard against Automerge's own panics) are not crashes; any other panic is.

fn main() {
    let target = zhibu_tests::fuzz_targets::Target::from_name("roster_csv").expect("a known target");
    afl::fuzz_nohook!(|data: &[u8]| {
        let _ = target.run(data);
    });
}
