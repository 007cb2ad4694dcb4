//! `portico-dp`: the data plane binary. All behaviour lives in the library.

fn main() -> std::process::ExitCode {
    data_plane::cli::main()
}
