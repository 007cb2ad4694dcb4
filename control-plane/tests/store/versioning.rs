//! The configuration version: bumped in the same transaction as every write, with one
//! change-log row per entity, announced with NOTIFY on Postgres and to subscribers.

use std::time::Duration;

use common::model::EntityKind;
use control_plane::store::{
    Change, ChangeOp, NOTIFY_CHANNEL, Store, StoreError, WriteOp, testing::TestStore,
};
use serde_json::json;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::fixtures::*;

async fn changes_of(store: &Store, version: u64) -> Vec<(EntityKind, Uuid, ChangeOp)> {
    let log = store.changes_since(version - 1).await.unwrap();
    log.changes
        .into_iter()
        .filter(|c| c.version == version)
        .map(|c| (c.kind, c.id, c.op))
        .collect()
}

async fn every_write_bumps_the_version_once_and_logs_it(t: &TestStore) {
    let s = &t.store;
    assert_eq!(s.current_version().await.unwrap(), 0);
    let svc = service(Some("svc"));
    let sid = id_of(&svc);
    let v1 = s.insert(EntityKind::Service, &svc).await.unwrap();
    assert_eq!(v1, 1);
    assert_eq!(
        changes_of(s, 1).await,
        [(EntityKind::Service, sid, ChangeOp::Insert)]
    );
    let v2 = s
        .update(EntityKind::Service, &with(svc.clone(), "host", json!("h")))
        .await
        .unwrap();
    assert_eq!(
        changes_of(s, v2).await,
        [(EntityKind::Service, sid, ChangeOp::Update)]
    );
    let v3 = s.upsert(EntityKind::Service, &svc).await.unwrap();
    assert_eq!(
        changes_of(s, v3).await,
        [(EntityKind::Service, sid, ChangeOp::Upsert)]
    );
    let v4 = s
        .delete(EntityKind::Service, sid)
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(
        changes_of(s, v4).await,
        [(EntityKind::Service, sid, ChangeOp::Delete)]
    );
    assert_eq!((v2, v3, v4), (2, 3, 4));
    assert_eq!(s.current_version().await.unwrap(), 4);
    let log = s.changes_since(0).await.unwrap();
    assert_eq!(log.version, 4);
    assert!(log.complete);
    assert_eq!(
        log.changes.iter().map(|c| c.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
}

async fn a_failed_write_leaves_no_trace(t: &TestStore) {
    let s = &t.store;
    s.insert(EntityKind::Service, &service(Some("taken")))
        .await
        .unwrap();
    let fresh = service(Some("fresh"));
    let ops = [
        WriteOp::Insert {
            kind: EntityKind::Service,
            entity: fresh.clone(),
        },
        WriteOp::Insert {
            kind: EntityKind::Service,
            entity: service(Some("taken")),
        },
    ];
    assert!(matches!(
        s.write_batch(&ops).await,
        Err(StoreError::UniqueViolation { .. })
    ));
    assert_eq!(
        s.get(EntityKind::Service, id_of(&fresh)).await.unwrap(),
        None
    );
    assert_eq!(s.current_version().await.unwrap(), 1);
    assert_eq!(
        s.changes_since(1).await.unwrap().changes,
        Vec::<Change>::new()
    );
    // The store is usable right after (locks released, no half-open transaction).
    s.insert(EntityKind::Service, &fresh).await.unwrap();
}

async fn a_batch_is_one_version(t: &TestStore) {
    let s = &t.store;
    let svc = service(Some("svc"));
    let r = route(Some("r"), Some(id_of(&svc)));
    let temp = consumer(Some("temp"), None);
    let ops = [
        WriteOp::Insert {
            kind: EntityKind::Service,
            entity: svc.clone(),
        },
        WriteOp::Insert {
            kind: EntityKind::Route,
            entity: r.clone(),
        },
        WriteOp::Insert {
            kind: EntityKind::Consumer,
            entity: temp.clone(),
        },
        WriteOp::Update {
            kind: EntityKind::Route,
            entity: with(r.clone(), "name", json!("r2")),
        },
        WriteOp::Delete {
            kind: EntityKind::Consumer,
            id: id_of(&temp),
        },
        WriteOp::Delete {
            kind: EntityKind::Consumer,
            id: Uuid::new_v4(),
        },
    ];
    let outcome = s.write_batch(&ops).await.unwrap();
    assert_eq!(outcome.version, Some(1));
    let mut got: Vec<_> = outcome
        .changes
        .iter()
        .map(|c| (c.kind, c.id, c.op))
        .collect();
    got.sort();
    let mut expected = vec![
        (EntityKind::Service, id_of(&svc), ChangeOp::Insert),
        (EntityKind::Route, id_of(&r), ChangeOp::Insert),
    ];
    expected.sort();
    assert_eq!(got, expected, "net effect: the consumer never existed");
    let mut logged = changes_of(s, 1).await;
    logged.sort();
    assert_eq!(logged, expected);
    let stored = s.get(EntityKind::Route, id_of(&r)).await.unwrap().unwrap();
    assert_eq!(stored["name"], "r2");
    // A batch that changes nothing uses no version.
    let none = s
        .write_batch(&[WriteOp::Delete {
            kind: EntityKind::Service,
            id: Uuid::new_v4(),
        }])
        .await
        .unwrap();
    assert_eq!(none.version, None);
    assert_eq!(s.current_version().await.unwrap(), 1);
}

async fn replace_all_swaps_the_configuration_in_one_version(t: &TestStore) {
    let s = &t.store;
    let kept = service(Some("kept"));
    let dropped = service(Some("dropped"));
    let dropped_route = route(None, Some(id_of(&dropped)));
    s.insert(EntityKind::Service, &kept).await.unwrap();
    s.insert(EntityKind::Service, &dropped).await.unwrap();
    s.insert(EntityKind::Route, &dropped_route).await.unwrap();
    let before = s.current_version().await.unwrap();

    let new_service = service(Some("dropped")); // reuses a name being removed
    let new_route = route(None, Some(id_of(&new_service)));
    // Given children first: the store orders by kind.
    let config = vec![
        (EntityKind::Route, new_route.clone()),
        (
            EntityKind::Service,
            with(kept.clone(), "host", json!("new.test")),
        ),
        (EntityKind::Service, new_service.clone()),
    ];
    let outcome = s.replace_all(&config).await.unwrap();
    assert_eq!(outcome.version, Some(before + 1));
    let mut got: Vec<_> = outcome
        .changes
        .iter()
        .map(|c| (c.kind, c.id, c.op))
        .collect();
    got.sort();
    let mut expected = vec![
        (EntityKind::Service, id_of(&kept), ChangeOp::Upsert),
        (EntityKind::Service, id_of(&dropped), ChangeOp::Delete),
        (EntityKind::Route, id_of(&dropped_route), ChangeOp::Delete),
        (EntityKind::Service, id_of(&new_service), ChangeOp::Insert),
        (EntityKind::Route, id_of(&new_route), ChangeOp::Insert),
    ];
    expected.sort();
    assert_eq!(got, expected);
    let snapshot = s.snapshot().await.unwrap();
    assert_eq!(snapshot.version, before + 1);
    assert_eq!(snapshot.of(EntityKind::Service).len(), 2);
    assert_eq!(snapshot.of(EntityKind::Route), [new_route]);

    // All or nothing: a dangling reference leaves the old configuration in place.
    let broken = vec![(EntityKind::Route, route(None, Some(Uuid::new_v4())))];
    assert!(matches!(
        s.replace_all(&broken).await,
        Err(StoreError::ForeignKeyMissing { .. })
    ));
    assert_eq!(s.snapshot().await.unwrap(), snapshot);
}

async fn pruned_change_logs_say_they_are_incomplete(t: &TestStore) {
    let s = &t.store;
    for _ in 0..3 {
        s.insert(EntityKind::Consumer, &consumer(Some(&unique("c")), None))
            .await
            .unwrap();
    }
    s.prune_changes(2).await.unwrap();
    let from_start = s.changes_since(0).await.unwrap();
    assert!(!from_start.complete);
    assert_eq!(from_start.changes.len(), 1);
    let recent = s.changes_since(2).await.unwrap();
    assert!(recent.complete);
    assert_eq!(
        recent.changes.iter().map(|c| c.version).collect::<Vec<_>>(),
        [3]
    );
}

/// Another control plane (its own pool) learns of this one's commits.
async fn subscribers_see_commits_of_other_processes(t: &TestStore) {
    let mut options = t.options();
    // On Postgres, rely on NOTIFY: a poll would come too late for the deadline below.
    options.poll_interval = if is_postgres(t) {
        Duration::from_secs(3600)
    } else {
        Duration::from_millis(50)
    };
    let other = Store::open(options).await.unwrap();
    let mut versions = other.subscribe().await;
    assert_eq!(*versions.borrow_and_update(), 0);
    let writer = &t.store;
    let mut last = 0;
    for i in 0..3 {
        let v = writer
            .insert(
                EntityKind::Consumer,
                &consumer(Some(&format!("c{i}")), None),
            )
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(10), versions.wait_for(|s| *s >= v))
            .await
            .unwrap_or_else(|_| panic!("version {v} never reached the other store"))
            .map(|v| *v)
            .unwrap();
        assert!(seen >= v && seen > last);
        last = seen;
    }
}

crate::on_both_backends!(
    every_write_bumps_the_version_once_and_logs_it,
    a_failed_write_leaves_no_trace,
    a_batch_is_one_version,
    replace_all_swaps_the_configuration_in_one_version,
    pruned_change_logs_say_they_are_incomplete,
    subscribers_see_commits_of_other_processes,
);

/// On Postgres, a commit is announced on `portico_config` with the new version, to a plain
/// LISTEN on another connection — and only once it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_each_commit_with_its_version() {
    let t = TestStore::postgres().await.unwrap();
    let mut listener = PgListener::connect(t.database_url().unwrap())
        .await
        .unwrap();
    listener.listen(NOTIFY_CHANNEL).await.unwrap();
    let s = &t.store;
    // A failed write announces nothing.
    s.insert(EntityKind::Service, &service(Some("a")))
        .await
        .unwrap();
    assert!(
        s.insert(EntityKind::Service, &service(Some("a")))
            .await
            .is_err()
    );
    let v2 = s
        .insert(EntityKind::Service, &service(Some("b")))
        .await
        .unwrap();
    let mut payloads = Vec::new();
    while payloads.len() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        assert_eq!(n.channel(), NOTIFY_CHANNEL);
        payloads.push(n.payload().to_owned());
    }
    assert_eq!(payloads, ["1", &v2.to_string()]);
    assert_eq!(v2, 2);
}
