//! Large imports go in many rows per statement, with the same results and the same precise
//! errors as one insert at a time.

use common::model::EntityKind;
use control_plane::store::{
    ChangeOp, ListQuery, StoreError, TagFilter, WriteOp, testing::TestStore,
};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::*;

const MANY: usize = 450; // more than two chunks of 200

async fn a_large_import_stores_everything_with_its_side_rows(t: &TestStore) {
    let s = &t.store;
    let ca = ca_certificate("digest");
    let mut config = vec![(EntityKind::CaCertificate, ca.clone())];
    for i in 0..MANY {
        let svc = with_tags(
            service(Some(&format!("s{i}"))),
            &["bulk", &format!("n{}", i % 2)],
        );
        let svc = with(svc, "ca_certificates", json!([id_of(&ca)]));
        config.push((EntityKind::Route, route(None, Some(id_of(&svc)))));
        config.push((EntityKind::Service, svc));
    }
    let outcome = s.replace_all(&config).await.unwrap();
    assert_eq!(outcome.version, Some(1));
    assert_eq!(outcome.changes.len(), 1 + 2 * MANY);
    assert!(outcome.changes.iter().all(|c| c.op == ChangeOp::Insert));
    let snapshot = s.snapshot().await.unwrap();
    for (kind, entity) in &config {
        assert!(snapshot.of(*kind).contains(entity));
    }
    let even = ListQuery {
        tags: Some(TagFilter::parse("bulk,n0").unwrap()),
        ..ListQuery::new(1000)
    };
    assert_eq!(
        s.list(EntityKind::Service, &even).await.unwrap().data.len(),
        MANY / 2
    );
    // Every service's id-array row is there: the CA certificate is protected.
    assert!(matches!(
        s.delete(EntityKind::CaCertificate, id_of(&ca)).await,
        Err(StoreError::ReferencedBy {
            referenced_by: EntityKind::Service,
            ..
        })
    ));
}

async fn a_bad_entity_in_a_large_import_is_named_and_nothing_is_stored(t: &TestStore) {
    let s = &t.store;
    let before = s
        .insert(EntityKind::Consumer, &consumer(Some("kept"), None))
        .await
        .unwrap();
    let services: Vec<_> = (0..MANY).map(|i| service(Some(&format!("s{i}")))).collect();
    // A duplicate name in the third chunk.
    let duplicate = service(Some("s7"));
    let mut config: Vec<_> = services
        .iter()
        .map(|e| (EntityKind::Service, e.clone()))
        .collect();
    config.insert(420, (EntityKind::Service, duplicate.clone()));
    match s.replace_all(&config).await {
        Err(StoreError::UniqueViolation { kind, id, fields }) => {
            assert_eq!((kind, id), (EntityKind::Service, id_of(&duplicate)));
            assert_eq!(fields["name"], "s7");
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }
    // A dangling reference among many routes.
    let svc = service(Some("svc"));
    let mut ops = vec![WriteOp::Insert {
        kind: EntityKind::Service,
        entity: svc.clone(),
    }];
    let dangling = route(None, Some(Uuid::new_v4()));
    for i in 0..MANY {
        let r = if i == 300 {
            dangling.clone()
        } else {
            route(None, Some(id_of(&svc)))
        };
        ops.push(WriteOp::Insert {
            kind: EntityKind::Route,
            entity: r,
        });
    }
    match s.write_batch(&ops).await {
        Err(StoreError::ForeignKeyMissing { id, field, .. }) => {
            assert_eq!((id, field), (id_of(&dangling), "service"));
        }
        other => panic!("expected a foreign key violation, got {other:?}"),
    }
    let snapshot = s.snapshot().await.unwrap();
    assert_eq!(snapshot.version, before);
    assert_eq!(snapshot.len(), 1, "only the consumer from before remains");
}

crate::on_both_backends!(
    a_large_import_stores_everything_with_its_side_rows,
    a_bad_entity_in_a_large_import_is_named_and_nothing_is_stored,
);
