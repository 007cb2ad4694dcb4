//! `portico-cp config import FILE` and `config export`: Kong's declarative configuration
//! (`kong.yml`) in and out of the store.
//!
//! Import replaces the whole configuration, all or nothing: the file is parsed and
//! validated first (every error listed, nothing written), then written with
//! `Store::replace_all` in one transaction and one version. Importing what is already
//! stored changes nothing and uses no version: entities that keep their id and content
//! keep their timestamps, and an identical set is not written at all. An entity whose
//! content changed keeps its `created_at` (so routes Kong orders by age keep their order).
//!
//! Export renders the stored entities with `common::declarative::render`; importing the
//! export changes nothing.

use std::collections::HashMap;
use std::io::Write as _;

use anyhow::Context as _;
use common::declarative::{self, Declarative};
use common::model::EntityKind;
use common::schema::catalog;

use crate::cli::{ConfigImportArgs, DatabaseArgs};
use crate::store::{Entity, Snapshot, Store, StoreError, StoreOptions};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// The store already held exactly this configuration; nothing was written.
    Unchanged { version: u64 },
    /// The configuration was replaced.
    Replaced { version: u64, entities: usize },
}

/// An entity as compared across imports: without timestamps and fields that are not part
/// of the stored entity (a certificate's `snis`).
fn comparable(kind: EntityKind, entity: &Entity) -> Entity {
    let mut entity = entity.clone();
    entity.remove("created_at");
    entity.remove("updated_at");
    for field in catalog().entity(kind).transient_fields() {
        entity.remove(field);
    }
    entity
}

fn key(kind: EntityKind, entity: &Entity) -> Option<(EntityKind, String)> {
    Some((kind, entity.get("id")?.as_str()?.to_string()))
}

/// The entities to write: stored timestamps carried over for entities that keep their id
/// (both for unchanged entities, `created_at` only for changed ones).
fn with_stored_timestamps(
    current: &Snapshot,
    incoming: &[(EntityKind, Entity)],
) -> Vec<(EntityKind, Entity)> {
    let stored: HashMap<(EntityKind, String), &Entity> = current
        .entities
        .iter()
        .flat_map(|(kind, list)| list.iter().filter_map(move |e| Some((key(*kind, e)?, e))))
        .collect();
    incoming
        .iter()
        .map(|(kind, entity)| {
            let mut entity = entity.clone();
            if let Some(old) = key(*kind, &entity).and_then(|k| stored.get(&k)) {
                let unchanged = comparable(*kind, old) == comparable(*kind, &entity);
                let carried: &[&str] = if unchanged {
                    &["created_at", "updated_at"]
                } else {
                    &["created_at"]
                };
                for field in carried {
                    if let (Some(value), true) = (old.get(*field), entity.contains_key(*field)) {
                        entity.insert((*field).to_string(), value.clone());
                    }
                }
            }
            (*kind, entity)
        })
        .collect()
}

fn same_configuration(current: &Snapshot, incoming: &[(EntityKind, Entity)]) -> bool {
    if current.len() != incoming.len() {
        return false;
    }
    let stored: HashMap<(EntityKind, String), &Entity> = current
        .entities
        .iter()
        .flat_map(|(kind, list)| list.iter().filter_map(move |e| Some((key(*kind, e)?, e))))
        .collect();
    incoming.iter().all(|(kind, entity)| {
        key(*kind, entity)
            .and_then(|k| stored.get(&k))
            .is_some_and(|old| {
                comparable(*kind, old) == comparable(*kind, entity)
                    && old.get("created_at") == entity.get("created_at")
            })
    })
}

/// Replaces the stored configuration with a parsed declarative configuration, unless it
/// is already what the store holds.
pub async fn import(store: &Store, declarative: &Declarative) -> Result<ImportOutcome, StoreError> {
    let current = store.snapshot().await?;
    let entities = with_stored_timestamps(&current, &declarative.entities);
    if same_configuration(&current, &entities) {
        return Ok(ImportOutcome::Unchanged {
            version: current.version,
        });
    }
    let outcome = store.replace_all(&entities).await?;
    Ok(match outcome.version {
        Some(version) => ImportOutcome::Replaced {
            version,
            entities: entities.len(),
        },
        None => ImportOutcome::Unchanged {
            version: current.version,
        },
    })
}

/// The stored configuration as a declarative YAML document.
pub async fn export(store: &Store) -> Result<String, StoreError> {
    let snapshot = store.snapshot().await?;
    let entities: Vec<(EntityKind, Entity)> = snapshot
        .entities
        .into_iter()
        .flat_map(|(kind, list)| list.into_iter().map(move |e| (kind, e)))
        .collect();
    Ok(declarative::render(&entities))
}

/// `portico-cp config import FILE`.
pub async fn import_command(args: &ConfigImportArgs) -> anyhow::Result<()> {
    let file = args.file.display().to_string();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {file}"))?;
    let parsed =
        declarative::parse(&text).map_err(|e| anyhow::anyhow!("{file}: {}", e.report()))?;
    let (store, _) = Store::open_and_migrate(StoreOptions::from_args(&args.database)).await?;
    let outcome = import(&store, &parsed).await;
    store.close().await;
    match outcome.with_context(|| format!("{file}: nothing was imported"))? {
        ImportOutcome::Unchanged { version } => {
            println!("{file}: no changes (configuration version {version})");
        }
        ImportOutcome::Replaced { version, entities } => {
            println!("{file}: imported {entities} entities (configuration version {version})");
        }
    }
    Ok(())
}

/// `portico-cp config export`: YAML on standard output.
pub async fn export_command(args: &DatabaseArgs) -> anyhow::Result<()> {
    let (store, _) = Store::open_and_migrate(StoreOptions::from_args(args)).await?;
    let result = export(&store).await;
    store.close().await;
    let yaml = result?;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(yaml.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // `config export | head` closing the pipe early is not a failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
