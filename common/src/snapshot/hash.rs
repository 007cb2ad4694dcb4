//! [`ConfigHash`]: the identity of a configuration's content.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Hash of a configuration: the first 16 bytes of the SHA-256 of its canonical JSON
/// encoding, written as 32 lowercase hex digits — the same shape as Kong's md5 config hashes,
/// so tools that display or compare Kong's `config_hash` keep working.
///
/// The version is not part of the hashed bytes: two versions with the same content have the
/// same hash, so a data plane that already serves that content is not sent it again.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigHash([u8; 16]);

impl ConfigHash {
    /// Length of the textual form.
    pub const HEX_LEN: usize = 32;

    /// Hashes canonical configuration bytes.
    pub fn of_canonical_bytes(bytes: &[u8]) -> ConfigHash {
        let digest = Sha256::digest(bytes);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        ConfigHash(out)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ConfigHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigHash({})", self.to_hex())
    }
}

/// A string that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration hash {0:?}: expected 32 hex digits")]
pub struct InvalidHash(pub String);

impl FromStr for ConfigHash {
    type Err = InvalidHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != Self::HEX_LEN {
            return Err(InvalidHash(truncate_for_error(s)));
        }
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).map_err(|_| InvalidHash(truncate_for_error(s)))?;
        Ok(ConfigHash(out))
    }
}

/// Keeps error messages short when a peer sends a long garbage string.
fn truncate_for_error(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hex_round_trip_and_shape() {
        let h = ConfigHash::of_canonical_bytes(b"{}");
        let text = h.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<ConfigHash>().unwrap(), h);
        // Uppercase input is accepted (hex is case-insensitive) and normalised.
        assert_eq!(text.to_uppercase().parse::<ConfigHash>().unwrap(), h);
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        assert!("".parse::<ConfigHash>().is_err());
        assert!("abc".parse::<ConfigHash>().is_err());
        assert!("zz".repeat(16).parse::<ConfigHash>().is_err());
        let long = "a".repeat(1000);
        let err = long.parse::<ConfigHash>().unwrap_err();
        assert!(err.0.len() < 100, "error text is bounded");
    }
}
