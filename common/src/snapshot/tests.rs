#![allow(clippy::unwrap_used)]

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::*;
use crate::model::{EntityKind, ForeignRef};

#[test]
fn encode_decode_round_trip_preserves_content_and_hash() {
    let config = sample::config_with_routes(50);
    let snapshot = EncodedSnapshot::encode(7, &config).unwrap();
    assert_eq!(snapshot.version, 7);
    assert_eq!(snapshot.format, FORMAT);
    assert!(snapshot.payload.len() < snapshot.uncompressed_size as usize);
    let mut decoded = snapshot.decode().unwrap();
    let mut expected = config.clone();
    expected.sort();
    decoded.sort();
    assert_eq!(decoded, expected);
    // Re-encoding what was decoded yields the same hash: the hash is about content.
    let again = EncodedSnapshot::encode(8, &decoded).unwrap();
    assert_eq!(again.hash, snapshot.hash);
    assert_eq!(again.payload, snapshot.payload);
}

#[test]
fn empty_configuration_encodes_and_verifies() {
    let snapshot = EncodedSnapshot::encode(0, &ConfigSet::default()).unwrap();
    let decoded = snapshot.decode().unwrap();
    assert!(decoded.is_empty());
    decoded.verify().unwrap();
}

#[test]
fn decode_rejects_unknown_format() {
    let mut snapshot = EncodedSnapshot::encode(1, &sample::config_with_routes(1)).unwrap();
    snapshot.format = 99;
    let err = snapshot.decode().unwrap_err();
    assert!(matches!(
        err,
        DecodeError::UnsupportedFormat { found: 99, .. }
    ));
    assert!(err.to_string().contains("format 99"), "{err}");
}

#[test]
fn decode_rejects_oversized_before_decompressing() {
    let snapshot = EncodedSnapshot::encode(1, &sample::config_with_routes(10)).unwrap();
    let err = snapshot.decode_with_limit(100).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooLarge { limit: 100, .. }),
        "{err}"
    );
}

#[test]
fn decode_rejects_a_payload_that_lies_about_its_size() {
    let mut snapshot = EncodedSnapshot::encode(1, &sample::config_with_routes(10)).unwrap();
    snapshot.uncompressed_size -= 1;
    assert!(matches!(
        snapshot.decode().unwrap_err(),
        DecodeError::SizeMismatch { .. }
    ));
    snapshot.uncompressed_size += 2;
    assert!(matches!(
        snapshot.decode().unwrap_err(),
        DecodeError::SizeMismatch { .. }
    ));
}

#[test]
fn decode_rejects_a_wrong_hash() {
    let mut snapshot = EncodedSnapshot::encode(1, &sample::config_with_routes(3)).unwrap();
    snapshot.hash = ConfigHash::of_canonical_bytes(b"something else");
    let err = snapshot.decode().unwrap_err();
    assert!(matches!(err, DecodeError::HashMismatch { .. }), "{err}");
}

#[test]
fn decode_rejects_valid_json_that_is_not_a_configuration() {
    // A correctly compressed and hashed payload whose content has the wrong shape.
    let canonical = br#"{"routes":[{"id":"not-a-uuid"}]}"#;
    let snapshot = EncodedSnapshot {
        version: 1,
        hash: ConfigHash::of_canonical_bytes(canonical),
        format: FORMAT,
        encoding: PayloadEncoding::JsonZstd,
        uncompressed_size: canonical.len() as u64,
        built_unix_millis: 0,
        payload: zstd::bulk::compress(canonical, 1).unwrap().into(),
    };
    let err = snapshot.decode().unwrap_err();
    assert!(matches!(err, DecodeError::Content(_)), "{err}");
    assert!(
        err.to_string().contains("not a valid configuration"),
        "{err}"
    );
}

/// Random truncations and bit flips of a real payload: decoding must return an error (or, in
/// the astronomically unlikely case the flip is harmless, the original content) and never
/// panic.
#[test]
fn corrupted_or_truncated_payloads_are_refused_without_panicking() {
    let config = sample::config_with_routes(200);
    let good = EncodedSnapshot::encode(3, &config).unwrap();
    let expected = good.decode().unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut refused = 0;
    for round in 0..600 {
        let mut bytes = good.payload.to_vec();
        match round % 3 {
            0 => bytes.truncate(rng.random_range(0..bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
            }
            _ => {
                let i = rng.random_range(0..bytes.len());
                let n = rng.random_range(1..32).min(bytes.len() - i);
                rng.fill(&mut bytes[i..i + n]);
            }
        }
        let corrupt = EncodedSnapshot {
            payload: bytes.into(),
            ..good.clone()
        };
        match corrupt.decode() {
            Err(
                DecodeError::Corrupt(_)
                | DecodeError::SizeMismatch { .. }
                | DecodeError::HashMismatch { .. }
                | DecodeError::Content(_),
            ) => refused += 1,
            Err(other) => panic!("unexpected error kind: {other}"),
            Ok(decoded) => assert_eq!(decoded, expected, "a corruption changed the content"),
        }
    }
    assert!(
        refused >= 590,
        "only {refused} of 600 corruptions were refused"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = StdRng::seed_from_u64(42);
    for len in [0usize, 1, 4, 13, 64, 1000] {
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes[..]);
        // Also start with a valid zstd magic number so the decoder gets past the header.
        if len >= 4 {
            bytes[..4].copy_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
        }
        let snapshot = EncodedSnapshot {
            version: 1,
            hash: ConfigHash::of_canonical_bytes(b""),
            format: FORMAT,
            encoding: PayloadEncoding::JsonZstd,
            uncompressed_size: 10,
            built_unix_millis: 0,
            payload: bytes.into(),
        };
        assert!(snapshot.decode().is_err());
    }
}

#[test]
fn verify_accepts_the_sample() {
    sample::config_with_routes(100).verify().unwrap();
}

#[test]
fn verify_reports_every_dangling_reference() {
    let mut config = sample::config_with_routes(5);
    let ghost = sample::id(99, 1);
    config.routes[0].service = Some(ForeignRef { id: ghost });
    config.targets[0].upstream = ForeignRef { id: ghost };
    config.snis[0].certificate = ForeignRef { id: ghost };
    config.plugins[0].consumer = Some(ForeignRef { id: ghost });
    config.plugins[0].route = Some(ForeignRef { id: ghost });
    config.keyauth_credentials[0].consumer = ForeignRef { id: ghost };
    config.services[0].client_certificate = Some(ForeignRef { id: ghost });
    config.services[0].ca_certificates = Some(vec![ghost]);
    let err = config.verify().unwrap_err();
    let dangling: Vec<(EntityKind, &str)> = err
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::DanglingReference {
                kind,
                field,
                missing,
                ..
            } if *missing == ghost => Some((*kind, *field)),
            _ => None,
        })
        .collect();
    for expected in [
        (EntityKind::Route, "service"),
        (EntityKind::Target, "upstream"),
        (EntityKind::Sni, "certificate"),
        (EntityKind::Plugin, "consumer"),
        (EntityKind::Plugin, "route"),
        (EntityKind::KeyAuthCredential, "consumer"),
        (EntityKind::Service, "client_certificate"),
        (EntityKind::Service, "ca_certificates"),
    ] {
        assert!(
            dangling.contains(&expected),
            "{expected:?} missing from {err}"
        );
    }
    assert_eq!(err.problems.len(), 8, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("invalid configuration: 8 problems: "),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "routes {}: service references services {ghost}, which does not exist",
            config.routes[0].id
        )),
        "{text}"
    );
}

#[test]
fn verify_reports_duplicate_ids_and_keys() {
    let mut config = sample::config_with_routes(3);
    let dup = config.routes[0].clone();
    config.routes.push(dup);
    let mut sni = config.snis[0].clone();
    sni.id = sample::id(7, 1);
    config.snis.push(sni);
    let err = config.verify().unwrap_err();
    assert!(err.problems.contains(&Problem::DuplicateId {
        kind: EntityKind::Route,
        id: config.routes[0].id
    }));
    assert!(err.problems.iter().any(|p| matches!(
        p,
        Problem::DuplicateKey {
            kind: EntityKind::Sni,
            field: "name",
            ..
        }
    )));
    // The duplicated route also repeats its name.
    assert!(err.problems.iter().any(|p| matches!(
        p,
        Problem::DuplicateKey {
            kind: EntityKind::Route,
            field: "name",
            ..
        }
    )));
}

#[test]
fn verify_allows_same_plugin_name_in_different_scopes_but_not_the_same_scope() {
    let mut config = sample::config_with_routes(2);
    let mut scoped = config.plugins[0].clone();
    scoped.id = sample::id(8, 1);
    scoped.route = Some(ForeignRef {
        id: config.routes[0].id,
    });
    config.plugins.push(scoped.clone());
    config.verify().unwrap();
    let mut same_scope = scoped;
    same_scope.id = sample::id(8, 2);
    config.plugins.push(same_scope);
    let err = config.verify().unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
}

#[test]
fn verify_error_text_is_bounded() {
    let mut config = sample::config_with_routes(100);
    for r in &mut config.routes {
        r.service = Some(ForeignRef {
            id: sample::id(99, 0),
        });
    }
    let err = config.verify().unwrap_err();
    assert_eq!(err.problems.len(), 100);
    let text = err.to_string();
    assert!(text.contains("and 80 more"), "{text}");
    assert!(text.len() < 4000);
}
