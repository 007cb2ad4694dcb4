//! `portico-cp`: the control plane binary. All behaviour lives in the library.

fn main() -> std::process::ExitCode {
    control_plane::cli::main()
}
