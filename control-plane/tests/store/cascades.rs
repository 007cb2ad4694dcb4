//! Deletes cascade where Kong's schema says `cascade` and are refused where a reference
//! must restrict them; cascaded deletes are versioned and logged like direct ones.

use common::model::EntityKind;
use control_plane::store::{ChangeOp, StoreError, testing::TestStore};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::*;

/// Deletes `root` and checks that exactly `cascaded` went with it, in the store, in the
/// change log of the delete's version, and in the tag index.
async fn assert_cascade(t: &TestStore, root: (EntityKind, Uuid), cascaded: &[(EntityKind, Uuid)]) {
    let s = &t.store;
    let deleted = s.delete(root.0, root.1).await.unwrap().expect("it existed");
    let mut expected = cascaded.to_vec();
    expected.sort();
    let mut got = deleted.cascaded.clone();
    got.sort();
    assert_eq!(got, expected);
    for (kind, id) in cascaded.iter().chain([&root]) {
        assert_eq!(
            s.get(*kind, *id).await.unwrap(),
            None,
            "{} {id}",
            kind.name()
        );
    }
    let log = s.changes_since(deleted.version - 1).await.unwrap();
    let mut logged: Vec<(EntityKind, Uuid)> = log
        .changes
        .iter()
        .map(|c| {
            assert_eq!((c.version, c.op), (deleted.version, ChangeOp::Delete));
            (c.kind, c.id)
        })
        .collect();
    logged.sort();
    let mut all = expected.clone();
    all.push(root);
    all.sort();
    assert_eq!(logged, all);
    let tags = s.list_tags(Some("doomed"), 100, None).await.unwrap();
    assert!(
        tags.data.is_empty(),
        "tag rows of deleted entities remain: {tags:?}"
    );
}

async fn upstream_takes_its_targets(t: &TestStore) {
    let s = &t.store;
    let (u, other) = (upstream("u"), upstream("other"));
    s.insert(EntityKind::Upstream, &u).await.unwrap();
    s.insert(EntityKind::Upstream, &other).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let tgt = with_tags(target(id_of(&u), &format!("t{i}.test:80")), &["doomed"]);
        s.insert(EntityKind::Target, &tgt).await.unwrap();
        ids.push((EntityKind::Target, id_of(&tgt)));
    }
    let survivor = target(id_of(&other), "t0.test:80");
    s.insert(EntityKind::Target, &survivor).await.unwrap();
    assert_cascade(t, (EntityKind::Upstream, id_of(&u)), &ids).await;
    assert!(
        s.get(EntityKind::Target, id_of(&survivor))
            .await
            .unwrap()
            .is_some()
    );
    // Deleting a target never deletes its upstream.
    s.delete(EntityKind::Target, id_of(&survivor))
        .await
        .unwrap();
    assert!(
        s.get(EntityKind::Upstream, id_of(&other))
            .await
            .unwrap()
            .is_some()
    );
}

async fn certificate_takes_its_snis(t: &TestStore) {
    let s = &t.store;
    let cert = certificate();
    s.insert(EntityKind::Certificate, &cert).await.unwrap();
    let mut ids = Vec::new();
    for name in ["a.test", "*.b.test"] {
        let n = with_tags(sni(name, id_of(&cert)), &["doomed"]);
        s.insert(EntityKind::Sni, &n).await.unwrap();
        ids.push((EntityKind::Sni, id_of(&n)));
    }
    assert_cascade(t, (EntityKind::Certificate, id_of(&cert)), &ids).await;
    // The names are free again.
    let again = certificate();
    s.insert(EntityKind::Certificate, &again).await.unwrap();
    s.insert(EntityKind::Sni, &sni("a.test", id_of(&again)))
        .await
        .unwrap();
}

async fn consumer_takes_its_credentials_and_plugins(t: &TestStore) {
    let s = &t.store;
    let c = consumer(Some("alice"), None);
    s.insert(EntityKind::Consumer, &c).await.unwrap();
    let cid = id_of(&c);
    let mut ids = Vec::new();
    let key = with_tags(key_auth(cid, "secret"), &["doomed"]);
    s.insert(EntityKind::KeyAuthCredential, &key).await.unwrap();
    ids.push((EntityKind::KeyAuthCredential, id_of(&key)));
    let group = acl(cid, "admins");
    s.insert(EntityKind::AclGroup, &group).await.unwrap();
    ids.push((EntityKind::AclGroup, id_of(&group)));
    for kind in [
        EntityKind::BasicAuthCredential,
        EntityKind::HmacAuthCredential,
        EntityKind::JwtSecret,
        EntityKind::MtlsAuthCredential,
    ] {
        let credential = any_entity(s, kind, &[("consumer", json!({ "id": cid }))]).await;
        s.insert(kind, &credential).await.unwrap();
        ids.push((kind, id_of(&credential)));
    }
    let p = with_tags(plugin("rate-limiting", None, None, Some(cid)), &["doomed"]);
    s.insert(EntityKind::Plugin, &p).await.unwrap();
    ids.push((EntityKind::Plugin, id_of(&p)));
    let global = plugin("rate-limiting", None, None, None);
    s.insert(EntityKind::Plugin, &global).await.unwrap();
    assert_cascade(t, (EntityKind::Consumer, cid), &ids).await;
    assert!(
        s.get(EntityKind::Plugin, id_of(&global))
            .await
            .unwrap()
            .is_some()
    );
}

/// Kong's mtls-auth DAO: a subject-name mapping restricted to a CA goes with the CA; the
/// consumer and the unrestricted mappings stay.
async fn ca_certificate_takes_its_mtls_mappings(t: &TestStore) {
    let s = &t.store;
    let ca = ca_certificate("digest-1");
    s.insert(EntityKind::CaCertificate, &ca).await.unwrap();
    let c = consumer(Some("alice"), None);
    s.insert(EntityKind::Consumer, &c).await.unwrap();
    let mapping = |name: &str, ca: Value| {
        obj(json!({
            "id": Uuid::new_v4(), "created_at": 1, "tags": null,
            "consumer": {"id": id_of(&c)}, "subject_name": name, "ca_certificate": ca,
        }))
    };
    let restricted = with_tags(mapping("alice", json!({ "id": id_of(&ca) })), &["doomed"]);
    let open = mapping("alice", Value::Null);
    s.insert(EntityKind::MtlsAuthCredential, &restricted)
        .await
        .unwrap();
    s.insert(EntityKind::MtlsAuthCredential, &open)
        .await
        .unwrap();
    // The same name and CA again is a unique violation, whatever the consumer.
    assert!(matches!(
        s.insert(
            EntityKind::MtlsAuthCredential,
            &mapping("alice", Value::Null)
        )
        .await,
        Err(StoreError::UniqueViolation { .. })
    ));
    assert_cascade(
        t,
        (EntityKind::CaCertificate, id_of(&ca)),
        &[(EntityKind::MtlsAuthCredential, id_of(&restricted))],
    )
    .await;
    for (kind, id) in [
        (EntityKind::MtlsAuthCredential, id_of(&open)),
        (EntityKind::Consumer, id_of(&c)),
    ] {
        assert!(s.get(kind, id).await.unwrap().is_some());
    }
}

async fn service_and_route_take_their_plugins(t: &TestStore) {
    let s = &t.store;
    let svc = service(Some("svc"));
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let r = route(Some("r"), Some(id_of(&svc)));
    s.insert(EntityKind::Route, &r).await.unwrap();
    let on_route = plugin("cors", Some(id_of(&r)), None, None);
    let on_service = plugin("cors", None, Some(id_of(&svc)), None);
    s.insert(EntityKind::Plugin, &on_route).await.unwrap();
    s.insert(EntityKind::Plugin, &on_service).await.unwrap();
    assert_cascade(
        t,
        (EntityKind::Route, id_of(&r)),
        &[(EntityKind::Plugin, id_of(&on_route))],
    )
    .await;
    assert_cascade(
        t,
        (EntityKind::Service, id_of(&svc)),
        &[(EntityKind::Plugin, id_of(&on_service))],
    )
    .await;
}

async fn a_service_with_routes_cannot_be_deleted(t: &TestStore) {
    let s = &t.store;
    let svc = service(Some("svc"));
    s.insert(EntityKind::Service, &svc).await.unwrap();
    let sid = id_of(&svc);
    let r = route(None, Some(sid));
    s.insert(EntityKind::Route, &r).await.unwrap();
    let p = plugin("cors", None, Some(sid), None);
    s.insert(EntityKind::Plugin, &p).await.unwrap();
    let version = s.current_version().await.unwrap();
    match s.delete(EntityKind::Service, sid).await {
        Err(StoreError::ReferencedBy {
            kind,
            id,
            referenced_by,
            field,
            referencing_id,
        }) => {
            assert_eq!((kind, id), (EntityKind::Service, sid));
            assert_eq!((referenced_by, field), (EntityKind::Route, "service"));
            assert_eq!(referencing_id, Some(id_of(&r)));
        }
        other => panic!("expected ReferencedBy, got {other:?}"),
    }
    // Nothing happened: not even the cascade to the plugin, and no version was used.
    assert!(s.get(EntityKind::Service, sid).await.unwrap().is_some());
    assert!(
        s.get(EntityKind::Plugin, id_of(&p))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(s.current_version().await.unwrap(), version);
    s.delete(EntityKind::Route, id_of(&r)).await.unwrap();
    assert!(s.delete(EntityKind::Service, sid).await.unwrap().is_some());
}

async fn a_trusted_ca_certificate_cannot_be_deleted(t: &TestStore) {
    let s = &t.store;
    let (ca, other) = (ca_certificate("d1"), ca_certificate("d2"));
    s.insert(EntityKind::CaCertificate, &ca).await.unwrap();
    s.insert(EntityKind::CaCertificate, &other).await.unwrap();
    let svc = with(
        service(None),
        "ca_certificates",
        json!([id_of(&ca), id_of(&other)]),
    );
    s.insert(EntityKind::Service, &svc).await.unwrap();
    match s.delete(EntityKind::CaCertificate, id_of(&ca)).await {
        Err(StoreError::ReferencedBy {
            referenced_by,
            field,
            referencing_id,
            ..
        }) => {
            assert_eq!(
                (referenced_by, field, referencing_id),
                (EntityKind::Service, "ca_certificates", Some(id_of(&svc)))
            );
        }
        other => panic!("expected ReferencedBy, got {other:?}"),
    }
    // Once the service stops trusting it, it can go; the other stays protected.
    let trimmed = with(svc.clone(), "ca_certificates", json!([id_of(&other)]));
    s.update(EntityKind::Service, &trimmed).await.unwrap();
    assert!(
        s.delete(EntityKind::CaCertificate, id_of(&ca))
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        s.delete(EntityKind::CaCertificate, id_of(&other)).await,
        Err(StoreError::ReferencedBy { .. })
    ));
    // Deleting the service releases it.
    s.delete(EntityKind::Service, id_of(&svc)).await.unwrap();
    assert!(
        s.delete(EntityKind::CaCertificate, id_of(&other))
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_client_certificate_in_use_cannot_be_deleted(t: &TestStore) {
    let s = &t.store;
    let cert = certificate();
    s.insert(EntityKind::Certificate, &cert).await.unwrap();
    let n = sni("client.test", id_of(&cert));
    s.insert(EntityKind::Sni, &n).await.unwrap();
    let svc = with(
        service(None),
        "client_certificate",
        json!({ "id": id_of(&cert) }),
    );
    s.insert(EntityKind::Service, &svc).await.unwrap();
    match s.delete(EntityKind::Certificate, id_of(&cert)).await {
        Err(StoreError::ReferencedBy {
            referenced_by,
            field,
            ..
        }) => {
            assert_eq!(
                (referenced_by, field),
                (EntityKind::Service, "client_certificate")
            );
        }
        other => panic!("expected ReferencedBy, got {other:?}"),
    }
    assert!(
        s.get(EntityKind::Sni, id_of(&n)).await.unwrap().is_some(),
        "SNI cascade undone"
    );
}

crate::on_both_backends!(
    upstream_takes_its_targets,
    certificate_takes_its_snis,
    consumer_takes_its_credentials_and_plugins,
    ca_certificate_takes_its_mtls_mappings,
    service_and_route_take_their_plugins,
    a_service_with_routes_cannot_be_deleted,
    a_trusted_ca_certificate_cannot_be_deleted,
    a_client_certificate_in_use_cannot_be_deleted,
);
