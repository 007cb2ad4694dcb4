//! Two control planes (two pools) writing at once cannot break uniqueness or references:
//! the database decides, and the loser gets a typed error.

use common::model::EntityKind;
use control_plane::store::{StoreError, testing::TestStore};

use crate::fixtures::*;

async fn concurrent_conflicting_inserts_have_exactly_one_winner(t: &TestStore) {
    let (a, b) = (&t.store, &t.open_another().await.unwrap());
    for round in 0..20 {
        let name = format!("contested-{round}");
        let (x, y) = (service(Some(&name)), service(Some(&name)));
        let (rx, ry) = tokio::join!(
            a.insert(EntityKind::Service, &x),
            b.insert(EntityKind::Service, &y)
        );
        let outcomes = [rx, ry];
        let wins = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        for r in &outcomes {
            if let Err(e) = r {
                assert!(matches!(e, StoreError::UniqueViolation { .. }), "{e:?}");
            }
        }
    }
    let all = a.snapshot().await.unwrap();
    assert_eq!(all.of(EntityKind::Service).len(), 20);
    assert_eq!(all.version, 20, "one version per committed insert");
}

/// A route created while its service is deleted: either the route loses (missing
/// reference) or the delete does (still referenced) — never both winning.
async fn a_reference_and_a_delete_racing_never_both_win(t: &TestStore) {
    let (a, b) = (&t.store, &t.open_another().await.unwrap());
    for round in 0..20 {
        let svc = service(Some(&format!("svc-{round}")));
        a.insert(EntityKind::Service, &svc).await.unwrap();
        let r = route(None, Some(id_of(&svc)));
        let (created, deleted) = tokio::join!(
            a.insert(EntityKind::Route, &r),
            b.delete(EntityKind::Service, id_of(&svc))
        );
        match (&created, &deleted) {
            (Ok(_), Err(StoreError::ReferencedBy { .. })) => {
                assert!(
                    a.get(EntityKind::Service, id_of(&svc))
                        .await
                        .unwrap()
                        .is_some()
                );
            }
            (Err(StoreError::ForeignKeyMissing { .. }), Ok(Some(_))) => {
                assert!(a.get(EntityKind::Route, id_of(&r)).await.unwrap().is_none());
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

crate::on_both_backends!(
    concurrent_conflicting_inserts_have_exactly_one_winner,
    a_reference_and_a_delete_racing_never_both_win,
);
