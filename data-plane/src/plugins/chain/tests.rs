//! Kong's precedence of plugin scopes (`lookup_cfg`), table-driven.

use super::*;

struct Noop;
impl Plugin for Noop {}

/// An entry holding one instance per given scope; instance `i` is `scopes[i]`.
fn entry(scopes: &[Scope]) -> Entry {
    let mut e = Entry::new("probe", 0);
    for scope in scopes {
        e.add(
            *scope,
            Instance {
                id: Uuid::new_v4(),
                name: "probe",
                handler: Arc::new(Noop),
            },
        );
    }
    e
}

#[test]
fn the_most_specific_scope_wins_in_kongs_order() {
    let (r, s, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // Kong's order, most specific first.
    let order = [
        (Some(r), Some(s), Some(c)),
        (Some(r), None, Some(c)),
        (None, Some(s), Some(c)),
        (Some(r), Some(s), None),
        (None, None, Some(c)),
        (Some(r), None, None),
        (None, Some(s), None),
        (None, None, None),
    ];
    let scopes: Vec<Scope> = order
        .iter()
        .map(|&(route, service, consumer)| Scope {
            route,
            service,
            consumer,
        })
        .collect();
    // With scopes i.. configured, the request (r, s, c) gets instance i.
    for start in 0..scopes.len() {
        let e = entry(&scopes[start..]);
        assert_eq!(
            e.lookup(Some(r), Some(s), Some(c)),
            Some(0),
            "first configured scope {:?}",
            scopes[start]
        );
    }
}

#[test]
fn scopes_naming_other_entities_do_not_apply() {
    let (r, s, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let other = Uuid::new_v4();
    let e = entry(&[
        Scope {
            route: Some(other),
            service: None,
            consumer: None,
        },
        Scope {
            route: None,
            service: Some(s),
            consumer: None,
        },
    ]);
    assert_eq!(e.lookup(Some(r), Some(s), Some(c)), Some(1));
    assert_eq!(e.lookup(Some(r), None, None), None);
    // A consumer-scoped instance needs a consumer.
    let e = entry(&[Scope {
        route: None,
        service: None,
        consumer: Some(c),
    }]);
    assert_eq!(e.lookup(Some(r), Some(s), None), None);
    assert_eq!(e.lookup(Some(r), Some(s), Some(c)), Some(0));
}
