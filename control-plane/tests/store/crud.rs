//! Create, read, replace, update and delete single entities.

use common::model::EntityKind;
use control_plane::store::{Scope, StoreError, testing::TestStore};
use serde_json::json;
use uuid::Uuid;

use crate::fixtures::*;

async fn entities_round_trip_exactly(t: &TestStore) {
    let s = &t.store;
    let svc = with_tags(service(Some("billing")), &["a", "🦍"]);
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let got = s.get(EntityKind::Service, id_of(&svc)).await.unwrap();
    assert_eq!(
        got,
        Some(svc.clone()),
        "what goes in comes out, nulls included"
    );
    assert_eq!(
        s.get(EntityKind::Service, Uuid::new_v4()).await.unwrap(),
        None
    );
    assert_eq!(s.get(EntityKind::Route, id_of(&svc)).await.unwrap(), None);
}

async fn unique_fields_and_endpoint_keys_find_entities(t: &TestStore) {
    let s = &t.store;
    let svc = service(Some("my-svc"));
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let found = s
        .get_by_endpoint_key(EntityKind::Service, "my-svc", None)
        .await
        .unwrap();
    assert_eq!(found.as_ref().map(id_of), Some(id_of(&svc)));
    assert_eq!(
        s.get_by_endpoint_key(EntityKind::Service, "other", None)
            .await
            .unwrap(),
        None
    );

    let bob = consumer(Some("bob smith"), Some("c-1"));
    s.insert(EntityKind::Consumer, &bob).await.unwrap();
    let by_custom_id = s
        .get_by_field(EntityKind::Consumer, "custom_id", "c-1", None)
        .await
        .unwrap();
    assert_eq!(by_custom_id.as_ref().map(id_of), Some(id_of(&bob)));
    let by_username = s
        .get_by_endpoint_key(EntityKind::Consumer, "bob smith", None)
        .await
        .unwrap();
    assert_eq!(by_username.as_ref().map(id_of), Some(id_of(&bob)));

    // Targets are unique per upstream: the upstream scopes the lookup.
    let (u1, u2) = (upstream("u1"), upstream("u2"));
    s.insert(EntityKind::Upstream, &u1).await.unwrap();
    s.insert(EntityKind::Upstream, &u2).await.unwrap();
    let t1 = target(id_of(&u1), "a.test:8000");
    let t2 = target(id_of(&u2), "a.test:8000");
    s.insert(EntityKind::Target, &t1).await.unwrap();
    s.insert(EntityKind::Target, &t2).await.unwrap();
    for (u, t) in [(&u1, &t1), (&u2, &t2)] {
        let scope = Scope {
            field: "upstream",
            id: id_of(u),
        };
        let found = s
            .get_by_endpoint_key(EntityKind::Target, "a.test:8000", Some(scope))
            .await
            .unwrap();
        assert_eq!(found.as_ref().map(id_of), Some(id_of(t)));
    }

    // Certificates are found by one of their SNI names.
    let cert = certificate();
    s.insert(EntityKind::Certificate, &cert).await.unwrap();
    for name in ["b.example.test", "a.example.test"] {
        s.insert(EntityKind::Sni, &sni(name, id_of(&cert)))
            .await
            .unwrap();
    }
    let found = s
        .get_by_endpoint_key(EntityKind::Certificate, "b.example.test", None)
        .await
        .unwrap();
    assert_eq!(found.as_ref().map(id_of), Some(id_of(&cert)));
    assert_eq!(
        s.sni_names(id_of(&cert)).await.unwrap(),
        ["a.example.test", "b.example.test"]
    );
    assert_eq!(s.certificate_by_sni("c.example.test").await.unwrap(), None);

    // Fields the store does not mirror cannot be looked up.
    assert!(matches!(
        s.get_by_field(EntityKind::Service, "host", "example.test", None)
            .await,
        Err(StoreError::InvalidRequest(_))
    ));
}

async fn upsert_creates_then_replaces_and_moves_unique_values(t: &TestStore) {
    let s = &t.store;
    let mut svc = service(Some("old-name"));
    s.upsert(EntityKind::Service, &svc).await.unwrap();
    assert_eq!(
        s.get(EntityKind::Service, id_of(&svc)).await.unwrap(),
        Some(svc.clone())
    );

    svc.insert("name".into(), json!("new-name"));
    svc.insert("host".into(), json!("other.test"));
    s.upsert(EntityKind::Service, &svc).await.unwrap();
    assert_eq!(
        s.get(EntityKind::Service, id_of(&svc)).await.unwrap(),
        Some(svc.clone())
    );
    // The old name is free again and the new one is taken.
    s.insert(EntityKind::Service, &service(Some("old-name")))
        .await
        .unwrap();
    assert!(matches!(
        s.insert(EntityKind::Service, &service(Some("new-name")))
            .await,
        Err(StoreError::UniqueViolation { .. })
    ));
}

async fn update_replaces_existing_entities_only(t: &TestStore) {
    let s = &t.store;
    let svc = with_tags(service(Some("svc")), &["before"]);
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let changed = with_tags(with(svc.clone(), "name", json!(null)), &["after"]);
    s.update(EntityKind::Service, &changed).await.unwrap();
    assert_eq!(
        s.get(EntityKind::Service, id_of(&svc)).await.unwrap(),
        Some(changed)
    );
    // A null name no longer collides; the tag index followed the update.
    s.insert(EntityKind::Service, &service(Some("svc")))
        .await
        .unwrap();

    let ghost = service(Some("ghost"));
    match s.update(EntityKind::Service, &ghost).await {
        Err(StoreError::NotFound { kind, id }) => {
            assert_eq!((kind, id), (EntityKind::Service, id_of(&ghost)));
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        s.get(EntityKind::Service, id_of(&ghost)).await.unwrap(),
        None
    );
}

async fn delete_reports_whether_something_was_deleted(t: &TestStore) {
    let s = &t.store;
    let svc = service(None);
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let version = s.current_version().await.unwrap();
    let deleted = s.delete(EntityKind::Service, id_of(&svc)).await.unwrap();
    assert_eq!(deleted.map(|d| d.version), Some(version + 1));
    assert_eq!(s.get(EntityKind::Service, id_of(&svc)).await.unwrap(), None);
    assert_eq!(
        s.delete(EntityKind::Service, id_of(&svc)).await.unwrap(),
        None
    );
    assert_eq!(
        s.current_version().await.unwrap(),
        version + 1,
        "no-op deletes bump nothing"
    );
}

async fn malformed_entities_are_refused_before_the_database(t: &TestStore) {
    let s = &t.store;
    let mut no_id = service(None);
    no_id.remove("id");
    let bad_ref = with(route(None, None), "service", json!("not-an-object"));
    let bad_tags = with(service(None), "tags", json!("a,b"));
    for (kind, entity) in [
        (EntityKind::Service, no_id),
        (EntityKind::Route, bad_ref),
        (EntityKind::Service, bad_tags),
    ] {
        assert!(
            matches!(
                s.insert(kind, &entity).await,
                Err(StoreError::InvalidEntity { .. })
            ),
            "{entity:?}"
        );
    }
    assert_eq!(s.current_version().await.unwrap(), 0);
}

crate::on_both_backends!(
    entities_round_trip_exactly,
    unique_fields_and_endpoint_keys_find_entities,
    upsert_creates_then_replaces_and_moves_unique_values,
    update_replaces_existing_entities_only,
    delete_reports_whether_something_was_deleted,
    malformed_entities_are_refused_before_the_database,
);
