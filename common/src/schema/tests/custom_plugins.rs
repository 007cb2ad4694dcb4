//! Custom plugins in the catalog: `Catalog::bundled_and` and `register_plugins`' rules
//! (tried on a catalog cell of the test's own, so the process-wide one stays bundled).

use std::sync::OnceLock;

use serde_json::json;

use super::obj;
use crate::model::EntityKind::Plugin;
use crate::schema::catalog::register_into;
use crate::schema::plugins::BUNDLED_PLUGIN_VERSION;
use crate::schema::{Catalog, Field, PluginDef, RegisterError, Schema};

fn custom(name: &'static str, version: &'static str) -> PluginDef {
    let config = Schema::record(vec![("greeting", Field::string().required())]);
    PluginDef::custom(
        name,
        5,
        version,
        Schema::new(name).field("config", Field::record(config)),
    )
}

#[test]
fn a_custom_plugin_validates_like_a_bundled_one() {
    let catalog = Catalog::bundled_and(vec![custom("hello", "1.2.0")]).unwrap();
    assert_eq!(catalog.plugin("hello").map(|p| p.version), Some("1.2.0"));
    assert_eq!(
        catalog.plugin("key-auth").map(|p| p.version),
        Some(BUNDLED_PLUGIN_VERSION)
    );
    // After the bundled plugins, in the given order.
    assert_eq!(catalog.plugins().last().map(|p| p.name), Some("hello"));
    let ok = catalog
        .insert(
            Plugin,
            obj(json!({"name": "hello", "config": {"greeting": "hi"}})),
        )
        .unwrap();
    assert_eq!(ok["config"], json!({"greeting": "hi"}));
    let err = catalog
        .insert(Plugin, obj(json!({"name": "hello", "config": {}})))
        .unwrap_err();
    assert_eq!(
        err.to_json()["fields"],
        json!({"config": {"greeting": "required field missing"}})
    );
    // The bundled catalog does not know it.
    let err = Catalog::bundled()
        .insert(
            Plugin,
            obj(json!({"name": "hello", "config": {"greeting": "hi"}})),
        )
        .unwrap_err();
    assert_eq!(
        err.to_json()["fields"]["name"],
        json!("plugin 'hello' not enabled; add it to the 'plugins' configuration property")
    );
}

#[test]
fn bundled_and_duplicate_names_are_refused() {
    let err = Catalog::bundled_and(vec![custom("key-auth", "1.0.0")]).err();
    assert_eq!(err, Some(RegisterError::Bundled("key-auth")));
    let err = Catalog::bundled_and(vec![custom("a", "1.0.0"), custom("a", "2.0.0")]).err();
    assert_eq!(err, Some(RegisterError::Duplicate("a")));
}

#[test]
fn registering_works_only_before_the_first_use() {
    let cell = OnceLock::new();
    // A refused registration leaves the cell untouched.
    assert_eq!(
        register_into(&cell, vec![custom("cors", "1.0.0")]),
        Err(RegisterError::Bundled("cors"))
    );
    assert!(cell.get().is_none());
    register_into(&cell, vec![custom("hello", "1.0.0")]).unwrap();
    assert!(cell.get().and_then(|c| c.plugin("hello")).is_some());
    // Twice, or after something used the catalog: refused, the catalog unchanged.
    assert_eq!(
        register_into(&cell, vec![custom("other", "1.0.0")]),
        Err(RegisterError::CatalogInUse)
    );
    assert!(cell.get().and_then(|c| c.plugin("other")).is_none());
    let used = OnceLock::new();
    used.get_or_init(Catalog::bundled);
    assert_eq!(
        register_into(&used, vec![custom("hello", "1.0.0")]),
        Err(RegisterError::CatalogInUse)
    );
}
