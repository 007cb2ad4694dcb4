//! The bundled plugins, registered explicitly by name.

use super::PluginRegistry;

/// Registers every bundled plugin that this data plane implements.
pub fn register_all(_registry: &mut PluginRegistry) {}
