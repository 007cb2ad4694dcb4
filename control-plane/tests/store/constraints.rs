//! The database enforces uniqueness and references for every kind, exactly as
//! `EntityKind` describes them, and the store reports violations in entity terms.

use common::model::EntityKind;
use control_plane::store::{StoreError, testing::TestStore};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::*;

/// For every unique field set of every kind: a second entity repeating the set's values
/// is refused with `UniqueViolation` naming exactly that set and its values.
async fn every_unique_field_set_is_enforced(t: &TestStore) {
    let s = &t.store;
    for kind in EntityKind::ALL {
        for set in kind.unique_fields() {
            // Reference fields of the set point to real parents, shared by both entities.
            let mut fill: Vec<(&str, Value)> = Vec::new();
            for field in set.iter() {
                if let Some(fk) = kind.foreign_keys().iter().find(|fk| fk.field == *field) {
                    let parent = insert_any(s, fk.references).await;
                    fill.push((field, json!({ "id": id_of(&parent) })));
                }
            }
            let first = any_entity(s, kind, &fill).await;
            s.insert(kind, &first).await.unwrap();
            let mut second = any_entity(s, kind, &fill).await;
            for field in set.iter() {
                second.insert((*field).into(), first[*field].clone());
            }
            match s.insert(kind, &second).await {
                Err(StoreError::UniqueViolation {
                    kind: k,
                    id,
                    fields,
                }) => {
                    assert_eq!((k, id), (kind, id_of(&second)), "{} {set:?}", kind.name());
                    let expected: Vec<(String, Value)> = set
                        .iter()
                        .map(|f| ((*f).to_string(), first[*f].clone()))
                        .collect();
                    let got: Vec<(String, Value)> = fields.into_iter().collect();
                    assert_eq!(got, expected, "{} {set:?}", kind.name());
                }
                other => panic!(
                    "{} {set:?}: expected a unique violation, got {other:?}",
                    kind.name()
                ),
            }
            assert_eq!(s.get(kind, id_of(&second)).await.unwrap(), None);
        }
    }
}

/// For every foreign key of every kind: a reference to a missing entity is refused with
/// `ForeignKeyMissing` naming the field, the referenced kind and the missing id.
async fn every_foreign_key_is_enforced(t: &TestStore) {
    let s = &t.store;
    for kind in EntityKind::ALL {
        for fk in kind.foreign_keys() {
            let missing = Uuid::new_v4();
            let entity = any_entity(s, kind, &[(fk.field, json!({ "id": missing }))]).await;
            match s.insert(kind, &entity).await {
                Err(StoreError::ForeignKeyMissing {
                    kind: k,
                    id,
                    field,
                    references,
                    referenced_id,
                }) => {
                    assert_eq!((k, id, field), (kind, id_of(&entity), fk.field));
                    assert_eq!((references, referenced_id), (fk.references, Some(missing)));
                }
                other => panic!(
                    "{}.{}: expected a FK violation, got {other:?}",
                    kind.name(),
                    fk.field
                ),
            }
        }
    }
    // The id array of services.ca_certificates is a reference too.
    let ca = insert_any(s, EntityKind::CaCertificate).await;
    let missing = Uuid::new_v4();
    let svc = with(
        service(None),
        "ca_certificates",
        json!([id_of(&ca), missing]),
    );
    match s.insert(EntityKind::Service, &svc).await {
        Err(StoreError::ForeignKeyMissing {
            field,
            references,
            referenced_id,
            ..
        }) => {
            assert_eq!(
                (field, references, referenced_id),
                ("ca_certificates", EntityKind::CaCertificate, Some(missing))
            );
        }
        other => panic!("expected a FK violation, got {other:?}"),
    }
    assert_eq!(s.get(EntityKind::Service, id_of(&svc)).await.unwrap(), None);
}

async fn plugin_scopes_collide_like_kong(t: &TestStore) {
    let s = &t.store;
    let svc = service(None);
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let sid = id_of(&svc);
    // Global: absent scopes are equal, so a second global plugin of a name collides.
    s.insert(EntityKind::Plugin, &plugin("cors", None, None, None))
        .await
        .unwrap();
    let again = plugin("cors", None, None, None);
    match s.insert(EntityKind::Plugin, &again).await {
        Err(StoreError::UniqueViolation { fields, .. }) => assert_eq!(
            Value::Object(fields),
            json!({ "name": "cors", "route": null, "service": null, "consumer": null })
        ),
        other => panic!("expected a unique violation, got {other:?}"),
    }
    // Another scope or another name is another plugin.
    s.insert(EntityKind::Plugin, &plugin("cors", None, Some(sid), None))
        .await
        .unwrap();
    s.insert(
        EntityKind::Plugin,
        &plugin("key-auth", None, Some(sid), None),
    )
    .await
    .unwrap();
    match s
        .insert(EntityKind::Plugin, &plugin("cors", None, Some(sid), None))
        .await
    {
        Err(StoreError::UniqueViolation { fields, .. }) => {
            assert_eq!(fields["service"], json!({ "id": sid }));
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }
    // Two plugins without instance names do not collide on it; two with the same do.
    let named = |n: &str| {
        with(
            plugin(&unique("p"), None, None, None),
            "instance_name",
            json!(n),
        )
    };
    s.insert(EntityKind::Plugin, &named("one")).await.unwrap();
    assert!(matches!(
        s.insert(EntityKind::Plugin, &named("one")).await,
        Err(StoreError::UniqueViolation { .. })
    ));
}

async fn reusing_an_id_is_a_primary_key_violation(t: &TestStore) {
    let s = &t.store;
    let first = consumer(Some("a"), None);
    s.insert(EntityKind::Consumer, &first).await.unwrap();
    let same_id = with(consumer(Some("b"), None), "id", first["id"].clone());
    match s.insert(EntityKind::Consumer, &same_id).await {
        Err(StoreError::PrimaryKeyViolation { kind, id }) => {
            assert_eq!((kind, id), (EntityKind::Consumer, id_of(&first)));
        }
        other => panic!("expected a primary key violation, got {other:?}"),
    }
    // The same id in another kind is another row.
    let svc = with(service(None), "id", first["id"].clone());
    s.insert(EntityKind::Service, &svc).await.unwrap();
}

async fn nullable_unique_fields_allow_many_nulls(t: &TestStore) {
    let s = &t.store;
    for _ in 0..3 {
        s.insert(EntityKind::Service, &service(None)).await.unwrap();
        s.insert(EntityKind::Consumer, &consumer(Some(&unique("u")), None))
            .await
            .unwrap();
    }
}

crate::on_both_backends!(
    every_unique_field_set_is_enforced,
    every_foreign_key_is_enforced,
    plugin_scopes_collide_like_kong,
    reusing_an_id_is_a_primary_key_violation,
    nullable_unique_fields_allow_many_nulls,
);
