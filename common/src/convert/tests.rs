#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::proto;
use crate::snapshot::{ConfigHash, EncodedSnapshot, sample};

fn a_hash() -> ConfigHash {
    ConfigHash::of_canonical_bytes(b"x")
}

fn hello() -> Hello {
    Hello {
        node_id: Uuid::new_v4(),
        hostname: "dp-1.example".into(),
        version: "0.1.0".into(),
        labels: BTreeMap::from([("region".into(), "eu".into())]),
        plugins: vec![PluginInfo {
            name: "key-auth".into(),
            version: "0.1.0".into(),
        }],
        serving: Some(ServedConfig {
            version: 41,
            hash: a_hash(),
        }),
        capabilities: vec![CAPABILITY_DELTA.into()],
        snapshot_formats: vec![1],
    }
}

fn dp_round_trip(message: DpMessage) {
    let wire: proto::DataPlaneMessage = message.clone().into();
    assert_eq!(DpMessage::try_from(wire).unwrap(), message);
}

fn cp_round_trip(message: CpMessage) {
    let wire: proto::ControlPlaneMessage = message.clone().into();
    assert_eq!(CpMessage::try_from(wire).unwrap(), message);
}

#[test]
fn every_data_plane_message_round_trips() {
    dp_round_trip(DpMessage::Hello(hello()));
    dp_round_trip(DpMessage::Hello(Hello {
        serving: None,
        ..hello()
    }));
    dp_round_trip(DpMessage::Ack(Ack {
        version: 3,
        hash: a_hash(),
        apply_time: Duration::from_micros(1234),
    }));
    for reason in [
        NackReason::Unspecified,
        NackReason::Decode,
        NackReason::Invalid,
        NackReason::Apply,
        NackReason::DeltaBaseMismatch,
    ] {
        dp_round_trip(DpMessage::Nack(Nack {
            version: 3,
            hash: a_hash(),
            reason,
            error: "route x: service references services y".into(),
        }));
    }
    dp_round_trip(DpMessage::Heartbeat(Heartbeat {
        sent_unix_millis: 99,
        config: None,
    }));
}

#[test]
fn every_control_plane_message_round_trips() {
    let snapshot = EncodedSnapshot::encode(5, &sample::config_with_routes(3)).unwrap();
    cp_round_trip(CpMessage::Snapshot(snapshot.clone()));
    cp_round_trip(CpMessage::Delta(Delta {
        base: ServedConfig {
            version: 4,
            hash: a_hash(),
        },
        update: snapshot,
    }));
    cp_round_trip(CpMessage::Welcome(Welcome {
        version: "0.1.0".into(),
        node_id: Uuid::new_v4(),
        heartbeat_interval: Duration::from_secs(30),
        heartbeat_timeout: Duration::from_secs(45),
    }));
    for status in [
        SyncStatus::Unknown,
        SyncStatus::Normal,
        SyncStatus::KongVersionIncompatible,
        SyncStatus::PluginSetIncompatible,
        SyncStatus::PluginVersionIncompatible,
    ] {
        cp_round_trip(CpMessage::Refusal(Refusal {
            sync_status: status,
            reason: "nope".into(),
        }));
    }
    cp_round_trip(CpMessage::Heartbeat(Heartbeat {
        sent_unix_millis: 1,
        config: Some(ServedConfig {
            version: 9,
            hash: a_hash(),
        }),
    }));
}

fn proto_hello() -> proto::Hello {
    match proto::DataPlaneMessage::from(DpMessage::Hello(hello())).kind {
        Some(proto::data_plane_message::Kind::Hello(h)) => h,
        _ => unreachable!(),
    }
}

fn hello_error(edit: impl FnOnce(&mut proto::Hello)) -> ConvertError {
    let mut h = proto_hello();
    edit(&mut h);
    let wire = proto::DataPlaneMessage {
        kind: Some(proto::data_plane_message::Kind::Hello(h)),
    };
    DpMessage::try_from(wire).unwrap_err()
}

#[test]
fn malformed_hellos_name_the_field() {
    let cases: Vec<(ConvertError, &str)> = vec![
        (
            hello_error(|h| h.node_id = "dp-1".into()),
            "hello.node_id must be a UUID",
        ),
        (
            hello_error(|h| h.version.clear()),
            "hello.version is missing",
        ),
        (
            hello_error(|h| h.config_hash = "abc".into()),
            "hello.config_hash invalid",
        ),
        (
            hello_error(|h| h.hostname = "h".repeat(300)),
            "hello.hostname longer than",
        ),
        (
            hello_error(|h| h.labels = (0..100).map(|i| (format!("k{i}"), "v".into())).collect()),
            "hello.labels at most 64",
        ),
        (
            hello_error(|h| {
                h.labels.insert(String::new(), "v".into());
            }),
            "hello.labels key is missing",
        ),
        (
            hello_error(|h| h.plugins[0].name.clear()),
            "hello.plugins.name is missing",
        ),
    ];
    for (err, expected) in cases {
        assert!(
            err.to_string().contains(expected),
            "{err} should contain {expected}"
        );
    }
}

#[test]
fn empty_envelopes_are_refused() {
    let err = DpMessage::try_from(proto::DataPlaneMessage { kind: None }).unwrap_err();
    assert_eq!(err, ConvertError::Empty("DataPlaneMessage"));
    let err = CpMessage::try_from(proto::ControlPlaneMessage { kind: None }).unwrap_err();
    assert_eq!(err, ConvertError::Empty("ControlPlaneMessage"));
}

#[test]
fn snapshots_with_bad_hash_or_encoding_are_refused() {
    let good = EncodedSnapshot::encode(5, &sample::config_with_routes(1)).unwrap();
    let wire = |edit: &dyn Fn(&mut proto::Snapshot)| {
        let mut message = proto::ControlPlaneMessage::from(CpMessage::Snapshot(good.clone()));
        if let Some(proto::control_plane_message::Kind::Snapshot(s)) = &mut message.kind {
            edit(s);
        }
        CpMessage::try_from(message).unwrap_err().to_string()
    };
    assert!(wire(&|s| s.hash.clear()).contains("snapshot.hash is missing"));
    assert!(wire(&|s| s.hash = "x".repeat(32)).contains("snapshot.hash invalid"));
    assert!(wire(&|s| s.encoding = 0).contains("snapshot.encoding is missing"));
    assert!(wire(&|s| s.encoding = 42).contains("unknown encoding 42"));
}

#[test]
fn nack_errors_are_bounded_and_unknown_reasons_refused() {
    let long = "é".repeat(5000);
    let wire = proto::DataPlaneMessage::from(DpMessage::Nack(Nack {
        version: 1,
        hash: a_hash(),
        reason: NackReason::Apply,
        error: long,
    }));
    let DpMessage::Nack(nack) = DpMessage::try_from(wire).unwrap() else {
        unreachable!()
    };
    assert!(nack.error.len() <= MAX_ERROR_LEN);
    let bad = proto::DataPlaneMessage {
        kind: Some(proto::data_plane_message::Kind::Nack(proto::Nack {
            version: 1,
            hash: a_hash().to_hex(),
            error: String::new(),
            reason: 77,
        })),
    };
    assert!(
        DpMessage::try_from(bad)
            .unwrap_err()
            .to_string()
            .contains("nack.reason")
    );
}

#[test]
fn welcome_requires_heartbeat_timing() {
    let mut wire = proto::ControlPlaneMessage::from(CpMessage::Welcome(Welcome {
        version: "0.1.0".into(),
        node_id: Uuid::new_v4(),
        heartbeat_interval: Duration::from_secs(30),
        heartbeat_timeout: Duration::from_secs(45),
    }));
    if let Some(proto::control_plane_message::Kind::Welcome(w)) = &mut wire.kind {
        w.heartbeat_timeout_millis = 0;
    }
    let err = CpMessage::try_from(wire).unwrap_err();
    assert_eq!(
        err,
        ConvertError::Missing("welcome.heartbeat_timeout_millis")
    );
}

/// Random bytes decoded as protobuf and converted: either error is fine, a panic is not.
#[test]
fn arbitrary_wire_bytes_never_panic() {
    use prost::Message;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(11);
    // Start from real messages so the mutations reach deep fields, plus pure noise.
    let seeds: Vec<Vec<u8>> = vec![
        proto::DataPlaneMessage::from(DpMessage::Hello(hello())).encode_to_vec(),
        proto::ControlPlaneMessage::from(CpMessage::Snapshot(
            EncodedSnapshot::encode(1, &sample::config_with_routes(2)).unwrap(),
        ))
        .encode_to_vec(),
    ];
    for round in 0..3000 {
        let mut bytes = if round % 3 == 2 {
            (0..rng.random_range(0..200))
                .map(|_| rng.random())
                .collect()
        } else {
            seeds[round % 2].clone()
        };
        if !bytes.is_empty() {
            for _ in 0..rng.random_range(1..6) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] = rng.random();
            }
            bytes.truncate(rng.random_range(0..=bytes.len()));
        }
        if let Ok(m) = proto::DataPlaneMessage::decode(&bytes[..]) {
            let _ = DpMessage::try_from(m);
        }
        if let Ok(m) = proto::ControlPlaneMessage::decode(&bytes[..])
            && let Ok(CpMessage::Snapshot(s)) = CpMessage::try_from(m)
        {
            let _ = s.decode().map(|c| c.verify());
        }
    }
}
