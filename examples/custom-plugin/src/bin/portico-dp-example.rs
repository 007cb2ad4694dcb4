//! `portico-dp-example`: `portico-dp` with the `api-version` plugin registered. Its control
//! plane is `portico-cp-example`, which knows the same schema.

fn main() -> std::process::ExitCode {
    data_plane::cli::main_with_plugins(portico_example_plugin::registry())
}
