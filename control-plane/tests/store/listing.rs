//! Listing: stable pages with opaque offsets, tag filters, scopes and field filters.

use std::collections::BTreeSet;

use common::model::EntityKind;
use control_plane::store::{
    FieldFilter, ListQuery, PageOffset, Scope, Store, StoreError, TagFilter, testing::TestStore,
};
use uuid::Uuid;

use crate::fixtures::*;

/// Follows `next` until the end; returns the ids in order.
async fn walk(store: &Store, kind: EntityKind, query: ListQuery) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut query = query;
    loop {
        let page = store.list(kind, &query).await.unwrap();
        assert!(page.data.len() <= query.size);
        ids.extend(page.data.iter().map(id_of));
        match page.next {
            Some(next) => {
                assert_eq!(page.data.len(), query.size, "only the last page is short");
                // Offsets travel through URLs as strings.
                query.offset = Some(PageOffset::parse(&next.token()).unwrap());
            }
            None => return ids,
        }
    }
}

async fn pages_cover_everything_once_in_a_stable_order(t: &TestStore) {
    let s = &t.store;
    let mut all = Vec::new();
    for i in 0..250 {
        let tags: Vec<&str> = match (i % 3, i % 5) {
            (0, 0) => vec!["three", "five"],
            (0, _) => vec!["three"],
            (_, 0) => vec!["five"],
            _ => vec![],
        };
        let svc = with_tags(service(Some(&format!("svc-{i}"))), &tags);
        s.insert(EntityKind::Service, &svc).await.unwrap();
        all.push((id_of(&svc), i));
    }
    let mut sorted: Vec<Uuid> = all.iter().map(|(id, _)| *id).collect();
    sorted.sort();
    for size in [1, 7, 100, 250, 1000] {
        assert_eq!(
            walk(s, EntityKind::Service, ListQuery::new(size)).await,
            sorted,
            "size {size}"
        );
    }
    let expect = |keep: &dyn Fn(usize) -> bool| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = all
            .iter()
            .filter(|(_, i)| keep(*i))
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    };
    let tagged = |filter: &str| ListQuery {
        tags: Some(TagFilter::parse(filter).unwrap()),
        ..ListQuery::new(9)
    };
    assert_eq!(
        walk(s, EntityKind::Service, tagged("three")).await,
        expect(&|i| i % 3 == 0)
    );
    assert_eq!(
        walk(s, EntityKind::Service, tagged("three,five")).await,
        expect(&|i| i % 15 == 0)
    );
    assert_eq!(
        walk(s, EntityKind::Service, tagged("three/five")).await,
        expect(&|i| i % 3 == 0 || i % 5 == 0)
    );
    assert_eq!(
        walk(s, EntityKind::Service, tagged("seven")).await,
        Vec::<Uuid>::new()
    );
    // Tags of one kind do not leak into another.
    assert_eq!(
        walk(s, EntityKind::Route, tagged("three")).await,
        Vec::<Uuid>::new()
    );
}

async fn rows_present_throughout_are_never_skipped(t: &TestStore) {
    let s = &t.store;
    let mut stable = BTreeSet::new();
    for _ in 0..40 {
        let c = consumer(Some(&unique("c")), None);
        s.insert(EntityKind::Consumer, &c).await.unwrap();
        stable.insert(id_of(&c));
    }
    let mut query = ListQuery::new(5);
    let mut seen = Vec::new();
    loop {
        let page = s.list(EntityKind::Consumer, &query).await.unwrap();
        seen.extend(page.data.iter().map(id_of));
        // Churn between pages: new rows come and go.
        let c = consumer(Some(&unique("churn")), None);
        s.insert(EntityKind::Consumer, &c).await.unwrap();
        if seen.len() % 2 == 0 {
            s.delete(EntityKind::Consumer, id_of(&c)).await.unwrap();
        }
        match page.next {
            Some(next) => query.offset = Some(next),
            None => break,
        }
    }
    let unique_seen: BTreeSet<Uuid> = seen.iter().copied().collect();
    assert_eq!(unique_seen.len(), seen.len(), "a row was listed twice");
    assert!(
        stable.is_subset(&unique_seen),
        "a row present throughout was skipped"
    );
}

async fn children_are_listed_by_their_parent(t: &TestStore) {
    let s = &t.store;
    let (a, b) = (service(Some("a")), service(Some("b")));
    s.insert(EntityKind::Service, &a).await.unwrap();
    s.insert(EntityKind::Service, &b).await.unwrap();
    let mut of_a = Vec::new();
    for i in 0..12 {
        let parent = if i % 3 == 0 { &b } else { &a };
        let r = with_tags(route(None, Some(id_of(parent))), &["x"]);
        s.insert(EntityKind::Route, &r).await.unwrap();
        if i % 3 != 0 {
            of_a.push(id_of(&r));
        }
    }
    s.insert(EntityKind::Route, &route(None, None))
        .await
        .unwrap();
    of_a.sort();
    let scoped = ListQuery {
        scope: Some(Scope {
            field: "service",
            id: id_of(&a),
        }),
        ..ListQuery::new(3)
    };
    assert_eq!(walk(s, EntityKind::Route, scoped.clone()).await, of_a);
    let scoped_and_tagged = ListQuery {
        tags: Some(TagFilter::parse("x").unwrap()),
        ..scoped
    };
    assert_eq!(walk(s, EntityKind::Route, scoped_and_tagged).await, of_a);

    let c = consumer(Some("c"), None);
    s.insert(EntityKind::Consumer, &c).await.unwrap();
    let p = plugin("acl", None, None, Some(id_of(&c)));
    s.insert(EntityKind::Plugin, &p).await.unwrap();
    s.insert(EntityKind::Plugin, &plugin("acl", None, None, None))
        .await
        .unwrap();
    let plugins_of_c = ListQuery {
        scope: Some(Scope {
            field: "consumer",
            id: id_of(&c),
        }),
        ..ListQuery::new(10)
    };
    assert_eq!(walk(s, EntityKind::Plugin, plugins_of_c).await, [id_of(&p)]);

    let not_a_reference = ListQuery {
        scope: Some(Scope {
            field: "name",
            id: id_of(&c),
        }),
        ..ListQuery::new(10)
    };
    assert!(matches!(
        s.list(EntityKind::Route, &not_a_reference).await,
        Err(StoreError::InvalidRequest(_))
    ));
}

async fn consumers_are_filtered_by_custom_id(t: &TestStore) {
    let s = &t.store;
    let uuid_like = Uuid::new_v4().to_string();
    let wanted = consumer(None, Some(&uuid_like));
    s.insert(EntityKind::Consumer, &wanted).await.unwrap();
    s.insert(EntityKind::Consumer, &consumer(Some("other"), Some("x")))
        .await
        .unwrap();
    let by = |value: &str| ListQuery {
        field: Some(FieldFilter {
            field: "custom_id".into(),
            value: value.into(),
        }),
        ..ListQuery::new(100)
    };
    assert_eq!(
        walk(s, EntityKind::Consumer, by(&uuid_like)).await,
        [id_of(&wanted)]
    );
    assert_eq!(
        walk(s, EntityKind::Consumer, by("nobody")).await,
        Vec::<Uuid>::new()
    );
}

async fn foreign_offsets_are_rejected(t: &TestStore) {
    let s = &t.store;
    assert!(matches!(
        PageOffset::parse("x"),
        Err(StoreError::InvalidOffset {
            reason: "bad base64 encoding",
            ..
        })
    ));
    // A token for another listing's shape (three keys) is refused, not misread.
    s.insert(EntityKind::Service, &with_tags(service(None), &["a", "b"]))
        .await
        .unwrap();
    let tags = s.list_tags(None, 1, None).await.unwrap();
    let foreign = tags.next.expect("two tag rows, pages of one");
    let query = ListQuery {
        offset: Some(foreign),
        ..ListQuery::new(10)
    };
    assert!(matches!(
        s.list(EntityKind::Service, &query).await,
        Err(StoreError::InvalidOffset { .. })
    ));
}

async fn tags_are_listed_per_entity(t: &TestStore) {
    let s = &t.store;
    let svc = with_tags(service(None), &["shared", "svc-only"]);
    let c = with_tags(consumer(Some("c"), None), &["shared", "🦍"]);
    s.insert(EntityKind::Service, &svc).await.unwrap();
    s.insert(EntityKind::Consumer, &c).await.unwrap();
    let mut rows = Vec::new();
    let mut offset = None;
    loop {
        let page = s.list_tags(None, 1, offset.as_ref()).await.unwrap();
        rows.extend(page.data.into_iter().map(|r| (r.tag, r.kind, r.entity_id)));
        match page.next {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    let expected = vec![
        ("shared".to_owned(), EntityKind::Consumer, id_of(&c)),
        ("shared".to_owned(), EntityKind::Service, id_of(&svc)),
        ("svc-only".to_owned(), EntityKind::Service, id_of(&svc)),
        ("🦍".to_owned(), EntityKind::Consumer, id_of(&c)),
    ];
    assert_eq!(rows, expected);
    let shared = s.list_tags(Some("shared"), 10, None).await.unwrap();
    assert_eq!(shared.data.len(), 2);
    assert_eq!(shared.next, None);
    assert!(
        s.list_tags(Some("none"), 10, None)
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

crate::on_both_backends!(
    pages_cover_everything_once_in_a_stable_order,
    rows_present_throughout_are_never_skipped,
    children_are_listed_by_their_parent,
    consumers_are_filtered_by_custom_id,
    foreign_offsets_are_rejected,
    tags_are_listed_per_entity,
);
