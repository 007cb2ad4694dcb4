use serde_json::json;

use super::*;
use crate::model::EntityKind::{Plugin, Route};
use crate::schema::{ForeignKeysUnresolved, ForeignLookup};

#[test]
fn references_by_endpoint_key_need_a_lookup() {
    // #39, #43
    let input = obj(json!({"methods": ["GET"], "service": {"name": "non-existing"}}));
    let lookups = catalog().foreign_lookups(Route, &input);
    assert_eq!(
        lookups,
        vec![ForeignLookup {
            field: "service",
            references: EntityKind::Service,
            candidates: vec![("name", json!("non-existing"))],
        }]
    );
    let err = ForeignKeysUnresolved { lookups };
    assert_eq!(
        err.to_json(),
        json!({"code": 13, "name": "foreign keys unresolved",
               "message": "foreign key unresolved (service.name: the foreign key cannot be resolved with '{name=\"non-existing\"}' for an existing 'services' entity)",
               "fields": {"service": {"name": "the foreign key cannot be resolved with '{name=\"non-existing\"}' for an existing 'services' entity"}}})
    );
    // An id needs no lookup; neither does a reference without any unique field.
    let by_id = obj(json!({"service": {"id": "8a388226-80e8-4027-a486-25e4f7db5d21"}}));
    assert!(catalog().foreign_lookups(Route, &by_id).is_empty());
    assert!(
        catalog()
            .foreign_lookups(Route, &obj(json!({"service": {"protocol": "http"}})))
            .is_empty()
    );
    let plugin =
        obj(json!({"name": "key-auth", "consumer": {"username": "bob"}, "route": {"name": "r"}}));
    let fields: Vec<&str> = catalog()
        .foreign_lookups(Plugin, &plugin)
        .iter()
        .map(|l| l.field)
        .collect();
    assert_eq!(fields, vec!["route", "consumer"]);
}
