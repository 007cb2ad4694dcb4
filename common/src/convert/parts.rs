//! Snapshots sent in parts ([`CAPABILITY_SNAPSHOT_PARTS`](super::CAPABILITY_SNAPSHOT_PARTS)).
//!
//! Why: tonic copies each outgoing message into a per-stream buffer that keeps the capacity
//! of the largest message it held, so sending a several-hundred-KiB snapshot whole to 500
//! data planes would leave 500 such buffers behind. Sent in parts of [`PART_SIZE`] bytes
//! (zero-copy slices of the one shared payload), each stream's buffer stays small.
//!
//! - [`split`]: the messages that send one snapshot: a [`CpMessage::SnapshotHead`] with the
//!   first part, then [`CpMessage::SnapshotPart`]s; a payload that fits in one part is one
//!   plain [`CpMessage::Snapshot`].
//! - [`Assembler`]: the data plane's side, which puts the payload back together, refusing a
//!   payload larger than its limit before receiving it and parts that arrive out of turn.

use bytes::{Bytes, BytesMut};

use super::CpMessage;
use crate::snapshot::EncodedSnapshot;

/// Bytes of payload per message.
pub const PART_SIZE: usize = 64 * 1024;

/// The `index`th message of `snapshot` split into parts of `part_size` bytes, or `None`
/// past the last. Messages are produced one at a time so a sender can wait for room
/// between them; the payload is sliced, never copied.
pub fn split(snapshot: &EncodedSnapshot, part_size: usize, index: usize) -> Option<CpMessage> {
    let part_size = part_size.max(1);
    let total = snapshot.payload.len();
    if total <= part_size {
        return (index == 0).then(|| CpMessage::Snapshot(snapshot.clone()));
    }
    let start = index.checked_mul(part_size)?;
    if start >= total {
        return None;
    }
    let end = total.min(start + part_size);
    let slice = snapshot.payload.slice(start..end);
    if index == 0 {
        let mut head = snapshot.clone();
        head.payload = slice;
        Some(CpMessage::SnapshotHead {
            snapshot: head,
            payload_size: total as u64,
        })
    } else {
        Some(CpMessage::SnapshotPart(slice))
    }
}

/// What feeding a message to the [`Assembler`] gave.
#[derive(Debug)]
pub enum Assembled {
    /// More parts are expected.
    Incomplete,
    /// The whole snapshot.
    Complete(EncodedSnapshot),
    /// The snapshot cannot be received; the parts still to come are skipped. Holds the
    /// snapshot's metadata (its payload is the part received) for a NACK, and why.
    Refused(EncodedSnapshot, String),
}

/// Protocol violations: the stream should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartsError {
    #[error("a snapshot part arrived with no snapshot being received")]
    Unexpected,
    #[error("snapshot parts exceed the announced payload size of {0} bytes")]
    TooLong(u64),
    #[error("a new snapshot started before the previous one's {missing} missing bytes arrived")]
    Interrupted { missing: u64 },
}

/// Reassembles one snapshot at a time.
#[derive(Debug)]
pub struct Assembler {
    limit: u64,
    receiving: Option<Receiving>,
}

#[derive(Debug)]
struct Receiving {
    head: EncodedSnapshot,
    total: u64,
    received: u64,
    /// `None` while skipping a refused snapshot's parts.
    buf: Option<BytesMut>,
}

impl Assembler {
    /// `limit`: the largest payload accepted, in bytes.
    pub fn new(limit: u64) -> Assembler {
        Assembler {
            limit,
            receiving: None,
        }
    }

    /// Starts a snapshot sent in parts.
    pub fn head(
        &mut self,
        snapshot: EncodedSnapshot,
        payload_size: u64,
    ) -> Result<Assembled, PartsError> {
        if let Some(r) = &self.receiving {
            return Err(PartsError::Interrupted {
                missing: r.total - r.received,
            });
        }
        let received = snapshot.payload.len() as u64;
        let buf = (payload_size <= self.limit).then(|| {
            // Capacity grows as parts arrive: a peer cannot make us allocate by announcing.
            let mut buf = BytesMut::with_capacity(snapshot.payload.len());
            buf.extend_from_slice(&snapshot.payload);
            buf
        });
        let refused = buf.is_none().then(|| {
            format!(
                "the snapshot payload is {payload_size} bytes, more than this data plane's \
                 --cluster-max-payload of {} bytes",
                self.limit
            )
        });
        let mut head = snapshot;
        head.payload = Bytes::new();
        self.receiving = Some(Receiving {
            head: head.clone(),
            total: payload_size,
            received,
            buf,
        });
        Ok(match refused {
            Some(reason) => Assembled::Refused(head, reason),
            None => Assembled::Incomplete,
        })
    }

    /// The next part.
    pub fn part(&mut self, data: Bytes) -> Result<Assembled, PartsError> {
        let Some(r) = self.receiving.as_mut() else {
            return Err(PartsError::Unexpected);
        };
        r.received += data.len() as u64;
        if r.received > r.total {
            let total = r.total;
            self.receiving = None;
            return Err(PartsError::TooLong(total));
        }
        if let Some(buf) = r.buf.as_mut() {
            buf.extend_from_slice(&data);
        }
        if r.received < r.total {
            return Ok(Assembled::Incomplete);
        }
        let Some(done) = self.receiving.take() else {
            return Ok(Assembled::Incomplete);
        };
        Ok(match done.buf {
            Some(buf) => {
                let mut snapshot = done.head;
                snapshot.payload = buf.freeze();
                Assembled::Complete(snapshot)
            }
            // A refused snapshot's last part: it was NACKed at its head.
            None => Assembled::Incomplete,
        })
    }

    /// Drops a snapshot being received (the stream ended).
    pub fn reset(&mut self) {
        self.receiving = None;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::snapshot::ConfigSet;

    fn sample(bytes: usize) -> EncodedSnapshot {
        let mut s = EncodedSnapshot::encode(7, &ConfigSet::default()).unwrap();
        s.payload = Bytes::from((0..bytes).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        s
    }

    fn all(s: &EncodedSnapshot, part: usize) -> Vec<CpMessage> {
        (0..).map_while(|i| split(s, part, i)).collect()
    }

    #[test]
    fn a_small_payload_is_one_plain_snapshot() {
        let s = sample(10);
        assert_eq!(all(&s, 10), vec![CpMessage::Snapshot(s.clone())]);
    }

    #[test]
    fn parts_reassemble_to_the_payload() {
        for size in [11, 20, 21, 1000] {
            let s = sample(size);
            let messages = all(&s, 10);
            assert_eq!(messages.len(), size.div_ceil(10), "{size}");
            let mut assembler = Assembler::new(u64::MAX);
            let mut done = None;
            for m in messages {
                let step = match m {
                    CpMessage::SnapshotHead {
                        snapshot,
                        payload_size,
                    } => {
                        assert_eq!(payload_size, size as u64);
                        assembler.head(snapshot, payload_size).unwrap()
                    }
                    CpMessage::SnapshotPart(data) => assembler.part(data).unwrap(),
                    other => panic!("{other:?}"),
                };
                if let Assembled::Complete(s) = step {
                    done = Some(s);
                }
            }
            assert_eq!(done.unwrap(), s, "{size}");
        }
    }

    #[test]
    fn an_oversized_payload_is_refused_at_its_head_and_its_parts_skipped() {
        let s = sample(100);
        let mut assembler = Assembler::new(50);
        let mut messages = all(&s, 30).into_iter();
        let Some(CpMessage::SnapshotHead {
            snapshot,
            payload_size,
        }) = messages.next()
        else {
            panic!("head")
        };
        let Assembled::Refused(head, reason) = assembler.head(snapshot, payload_size).unwrap()
        else {
            panic!("refused")
        };
        assert_eq!(head.hash, s.hash);
        assert!(
            reason.contains("--cluster-max-payload of 50 bytes"),
            "{reason}"
        );
        for m in messages {
            let CpMessage::SnapshotPart(data) = m else {
                panic!("part")
            };
            assert!(matches!(
                assembler.part(data).unwrap(),
                Assembled::Incomplete
            ));
        }
        // The next snapshot is received normally.
        let small = sample(40);
        let CpMessage::SnapshotHead {
            snapshot,
            payload_size,
        } = split(&small, 30, 0).unwrap()
        else {
            panic!("head")
        };
        assembler.head(snapshot, payload_size).unwrap();
        let CpMessage::SnapshotPart(data) = split(&small, 30, 1).unwrap() else {
            panic!("part")
        };
        assert!(matches!(assembler.part(data).unwrap(), Assembled::Complete(c) if c == small));
    }

    #[test]
    fn out_of_turn_parts_are_protocol_errors() {
        let mut assembler = Assembler::new(u64::MAX);
        assert_eq!(
            assembler.part(Bytes::from_static(b"x")).unwrap_err(),
            PartsError::Unexpected
        );
        let s = sample(25);
        let CpMessage::SnapshotHead {
            snapshot,
            payload_size,
        } = split(&s, 10, 0).unwrap()
        else {
            panic!("head")
        };
        assembler.head(snapshot.clone(), payload_size).unwrap();
        assert_eq!(
            assembler.head(snapshot, payload_size).unwrap_err(),
            PartsError::Interrupted { missing: 15 }
        );
        assert_eq!(
            assembler.part(Bytes::from(vec![0; 16])).unwrap_err(),
            PartsError::TooLong(25)
        );
    }
}
