//! `zhibu-server`: run the township server, or administer it. All logic is in the library's
//! `cli` module, so the end-to-end tests can run this very program.

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: zhibu_server::Allocator = zhibu_server::Allocator;

fn main() -> std::process::ExitCode {
    zhibu_server::cli::main()
}
