//! The real `zhibu-server` program, built inside this package so tests can start it as a
//! separate process (and kill it) through `CARGO_BIN_EXE_zhibu-server-under-test`.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: zhibu_server::Allocator = zhibu_server::Allocator;

fn main() -> std::process::ExitCode {
    zhibu_server::cli::main()
}
