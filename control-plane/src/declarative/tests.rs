//! Import and export against real Postgres (a database per test) and SQLite.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::store::testing::TestStore;

const DECK: &str = include_str!(
    "../../../common/src/declarative/tests/fixtures/deck-dump-001-entities-with-tags.kong.yaml"
);

fn parse(text: &str) -> Declarative {
    declarative::parse(text).unwrap_or_else(|e| panic!("{}", e.report()))
}

async fn round_trip(t: TestStore) {
    let store = &t.store;
    let before = store.current_version().await.unwrap();
    let parsed = parse(DECK);
    let ImportOutcome::Replaced { version, entities } = import(store, &parsed).await.unwrap()
    else {
        panic!("the first import writes");
    };
    assert_eq!(entities, 20);
    assert_eq!(version, before + 1, "one version for the whole import");
    let stored = store.snapshot().await.unwrap();
    assert_eq!(stored.len(), 20);

    // The same file again changes nothing and uses no version.
    assert_eq!(
        import(store, &parse(DECK)).await.unwrap(),
        ImportOutcome::Unchanged { version }
    );
    // Export, then import the export: nothing changes either.
    let text = export(store).await.unwrap();
    assert_eq!(
        import(store, &parse(&text)).await.unwrap(),
        ImportOutcome::Unchanged { version }
    );
    assert_eq!(store.current_version().await.unwrap(), version);
    assert_eq!(store.snapshot().await.unwrap(), stored, "rows untouched");
    // The export carries Kong's defaults (compared in full with decK's dump in `common`).
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(doc["_format_version"], "3.0");
    assert_eq!(doc["upstreams"][0]["slots"], 10000);
    assert_eq!(doc["upstreams"][0]["targets"][2]["weight"], 100);
    assert_eq!(doc["services"][2]["routes"][0]["methods"], json!(["GET"]));
    assert_eq!(
        doc["certificates"][0]["id"],
        "13c562a1-191c-4464-9b18-e5222b46035b"
    );
    assert_eq!(
        doc["consumers"][0]["keyauth_credentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn import_export_round_trip_postgres() {
    round_trip(TestStore::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn import_export_round_trip_sqlite() {
    round_trip(TestStore::sqlite().await.unwrap()).await;
}

const FIRST: &str = r#"
_format_version: "3.0"
services:
- name: kept
  host: a.internal
  routes: [{name: r1, paths: [/r1]}]
- name: dropped
  host: b.internal
"#;

const SECOND: &str = r#"
_format_version: "3.0"
services:
- name: kept
  host: changed.internal
  routes: [{name: r1, paths: [/r1]}, {name: r2, paths: [/r2]}]
"#;

async fn replace(t: TestStore) {
    let store = &t.store;
    import(store, &parse(FIRST)).await.unwrap();
    let first = store.snapshot().await.unwrap();
    let created = |snapshot: &Snapshot, kind: EntityKind, name: &str| {
        snapshot
            .of(kind)
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| (e["created_at"].clone(), e["updated_at"].clone()))
    };
    let kept_before = created(&first, EntityKind::Service, "kept").unwrap();
    let route_before = created(&first, EntityKind::Route, "r1").unwrap();

    let outcome = import(store, &parse(SECOND)).await.unwrap();
    assert!(matches!(
        outcome,
        ImportOutcome::Replaced { entities: 3, .. }
    ));
    let second = store.snapshot().await.unwrap();
    // What the file no longer declares is gone.
    assert!(created(&second, EntityKind::Service, "dropped").is_none());
    assert_eq!(second.len(), 3);
    // A changed entity keeps its id and creation time; an unchanged one keeps both stamps.
    let kept = second
        .of(EntityKind::Service)
        .iter()
        .find(|e| e["name"] == "kept")
        .unwrap();
    assert_eq!(kept["host"], "changed.internal");
    assert_eq!(kept["created_at"], kept_before.0);
    assert_eq!(
        created(&second, EntityKind::Route, "r1").unwrap(),
        route_before
    );
    assert!(created(&second, EntityKind::Route, "r2").is_some());
}

#[tokio::test]
async fn import_replaces_the_configuration_postgres() {
    replace(TestStore::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn import_replaces_the_configuration_sqlite() {
    replace(TestStore::sqlite().await.unwrap()).await;
}

async fn all_or_nothing(t: TestStore) {
    let store = &t.store;
    import(store, &parse(FIRST)).await.unwrap();
    let version = store.current_version().await.unwrap();
    let before = store.snapshot().await.unwrap();
    // A configuration the store refuses part-way (credentials of a consumer that is not
    // there: the loader would never produce it, the database enforces it anyway).
    let mut broken = parse(DECK);
    broken
        .entities
        .retain(|(kind, _)| *kind != EntityKind::Consumer);
    assert!(import(store, &broken).await.is_err());
    assert_eq!(store.current_version().await.unwrap(), version);
    assert_eq!(store.snapshot().await.unwrap(), before);
}

#[tokio::test]
async fn a_failed_import_changes_nothing_postgres() {
    all_or_nothing(TestStore::postgres().await.unwrap()).await;
}

#[tokio::test]
async fn a_failed_import_changes_nothing_sqlite() {
    all_or_nothing(TestStore::sqlite().await.unwrap()).await;
}

#[tokio::test]
async fn an_empty_store_exports_an_empty_file() {
    let t = TestStore::sqlite().await.unwrap();
    let text = export(&t.store).await.unwrap();
    assert_eq!(text, "_format_version: '3.0'\n_transform: false\n");
    // And importing an empty file into an empty store changes nothing.
    let version = t.store.current_version().await.unwrap();
    assert_eq!(
        import(&t.store, &parse(&text)).await.unwrap(),
        ImportOutcome::Unchanged { version }
    );
}
