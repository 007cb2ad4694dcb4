#![allow(clippy::unwrap_used)]

use common::model::ForeignRef;
use common::snapshot::sample;

use super::*;

#[test]
fn build_verifies_encodes_and_lists_the_plugins_used() {
    let config = sample::config_with_routes(3);
    let published = PublishedSnapshot::build(5, &config, |_| "0.1.0".to_string()).unwrap();
    assert_eq!(published.snapshot.version, 5);
    assert_eq!(published.snapshot.decode().unwrap().routes.len(), 3);
    assert_eq!(
        published.plugins.into_iter().collect::<Vec<_>>(),
        [("key-auth".to_string(), "0.1.0".to_string())]
    );
}

#[test]
fn build_refuses_what_every_data_plane_would_refuse() {
    let mut config = sample::config_with_routes(3);
    config.routes[0].service = Some(ForeignRef {
        id: sample::id(99, 9),
    });
    let err = PublishedSnapshot::build(5, &config, |_| String::new()).unwrap_err();
    assert!(matches!(err, PublishError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}
