//! `portico-cp-example`: `portico-cp` that knows the `api-version` plugin, so its Admin
//! API and `config import` accept (and validate) `api-version` configurations and the
//! data planes of `portico-dp-example` get them. Same schema as the data plane: both
//! binaries take it from `portico_example_plugin::definition()`.

fn main() -> std::process::ExitCode {
    control_plane::cli::main_with_plugins(vec![portico_example_plugin::definition()])
}
