//! The real `zhibu` phone program, built inside this package so tests can run it through
//! `CARGO_BIN_EXE_zhibu-under-test`.

fn main() -> std::process::ExitCode {
    zhibu_client::cli::main()
}
