//! `portico-dp-example`: `portico-dp` with the `api-version` plugin registered.

fn main() -> std::process::ExitCode {
    data_plane::cli::main_with_plugins(portico_example_plugin::registry())
}
