//! The real `zhibu-server` program, built inside this package so tests can start it as a
//! separate process (and kill it) through `CARGO_BIN_EXE_zhibu-server-under-test`.

fn main() -> std::process::ExitCode {
    zhibu_server::cli::main()
}
