//! Snapshots read every entity and the version in one consistent transaction.

use common::model::EntityKind;
use control_plane::store::testing::TestStore;

use crate::fixtures::*;

async fn a_snapshot_holds_every_kind_at_its_version(t: &TestStore) {
    let s = &t.store;
    let empty = s.snapshot().await.unwrap();
    assert_eq!(empty.version, 0);
    assert!(empty.is_empty());
    assert_eq!(
        empty.entities.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        EntityKind::ALL.to_vec()
    );
    let mut inserted = Vec::new();
    for kind in EntityKind::ALL {
        inserted.push((kind, insert_any(s, kind).await));
    }
    let snapshot = s.snapshot().await.unwrap();
    assert_eq!(snapshot.version, s.current_version().await.unwrap());
    for (kind, entity) in &inserted {
        assert!(
            snapshot.of(*kind).contains(entity),
            "{} missing",
            kind.name()
        );
    }
    // Parents created along the way are there too.
    assert!(snapshot.len() >= inserted.len());
}

/// While a writer commits services one version at a time, every snapshot's entity count
/// matches its version exactly: no snapshot sees a write without its version or a version
/// without its write.
async fn snapshots_are_consistent_under_concurrent_writes(t: &TestStore) {
    let writer = t.open_another().await.unwrap();
    let reader = &t.store;
    let base = reader.current_version().await.unwrap();
    let writes = tokio::spawn(async move {
        for i in 0..60 {
            writer
                .insert(EntityKind::Service, &service(Some(&format!("s{i}"))))
                .await
                .unwrap();
        }
    });
    let mut versions_seen = Vec::new();
    while !writes.is_finished() {
        let snapshot = reader.snapshot().await.unwrap();
        let services = snapshot.of(EntityKind::Service).len() as u64;
        assert_eq!(
            services,
            snapshot.version - base,
            "snapshot at v{}",
            snapshot.version
        );
        versions_seen.push(snapshot.version);
    }
    writes.await.unwrap();
    let last = reader.snapshot().await.unwrap();
    assert_eq!(last.of(EntityKind::Service).len(), 60);
    assert!(versions_seen.windows(2).all(|w| w[0] <= w[1]));
}

crate::on_both_backends!(
    a_snapshot_holds_every_kind_at_its_version,
    snapshots_are_consistent_under_concurrent_writes,
);
