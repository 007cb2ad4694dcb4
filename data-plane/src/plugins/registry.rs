//! The explicit plugin registry: name -> (schema, priority, version, factory).
//!
//! Nothing registers itself: [`PluginRegistry::bundled`] lists the bundled plugins, and a
//! build with custom plugins adds its own with [`PluginRegistry::register`] before the
//! node starts (see `docs/custom-plugins.md`). The registry also tells the control plane
//! which plugins this data plane has (the sync `Hello`) and gives the declarative loader
//! the schemas to validate against.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use common::convert::PluginInfo;
use common::schema::{Catalog, PluginDef};

use super::{InstanceCx, Plugin};

/// Builds one instance from a validated plugin entity. Runs once per configuration
/// snapshot, off the request path; an error rejects the whole configuration.
pub type PluginFactory =
    Arc<dyn Fn(&InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> + Send + Sync>;

/// A plain-function factory (what the bundled plugins use).
pub type FactoryFn = fn(&InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String>;

/// A registered plugin.
#[derive(Clone)]
pub struct Registration {
    /// Name, config schema, Kong's `PRIORITY` and `VERSION`.
    pub def: PluginDef,
    pub factory: PluginFactory,
}

/// Every plugin this data plane can run.
#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<&'static str, Registration>,
    catalog: OnceLock<Catalog>,
}

impl PluginRegistry {
    /// A registry without plugins.
    pub fn empty() -> PluginRegistry {
        PluginRegistry::default()
    }

    /// The bundled plugins.
    pub fn bundled() -> PluginRegistry {
        let mut registry = PluginRegistry::empty();
        super::bundled::register_all(&mut registry);
        registry
    }

    /// Adds (or replaces) a plugin. `def` comes from the plugin's schema module
    /// (`common::schema::PluginDef`), so the control plane validates the same schema.
    pub fn register<F>(&mut self, def: PluginDef, factory: F) -> &mut PluginRegistry
    where
        F: Fn(&InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> + Send + Sync + 'static,
    {
        self.catalog = OnceLock::new();
        self.plugins.insert(
            def.name,
            Registration {
                def,
                factory: Arc::new(factory),
            },
        );
        self
    }

    pub fn get(&self, name: &str) -> Option<&Registration> {
        self.plugins.get(name)
    }

    /// Registered plugins by name.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.plugins.values()
    }

    /// What the sync `Hello` announces: every plugin with its version.
    pub fn plugin_infos(&self) -> Vec<PluginInfo> {
        self.plugins
            .values()
            .map(|r| PluginInfo {
                name: r.def.name.to_string(),
                version: r.def.version.to_string(),
            })
            .collect()
    }

    /// The schema catalog with exactly these plugins enabled (for `kong.yml`).
    pub fn catalog(&self) -> &Catalog {
        self.catalog.get_or_init(|| {
            Catalog::with_plugins(self.plugins.values().map(|r| r.def.clone()).collect())
        })
    }
}
