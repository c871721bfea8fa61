//! `zhibu`: the village cadre's phone on the command line (see `zhibu_client::cli`).

fn main() -> std::process::ExitCode {
    zhibu_client::cli::main()
}
