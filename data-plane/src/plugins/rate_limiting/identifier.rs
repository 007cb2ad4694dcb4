//! What a request is counted under (Kong's `get_identifier`), kept on the stack for the
//! common cases (a consumer, credential or service id, an IP address) so counting a
//! request allocates nothing.

use std::io::Write;
use std::net::IpAddr;

/// Room for a hyphenated UUID or any IP address's text (an IPv6 with an IPv4 tail is at
/// most 45 bytes).
const INLINE: usize = 46;

pub enum Identifier {
    Inline { bytes: [u8; INLINE], len: u8 },
    Text(String),
}

impl Identifier {
    pub fn uuid(id: &uuid::Uuid) -> Identifier {
        let mut bytes = [0u8; INLINE];
        let len = id.hyphenated().encode_lower(&mut bytes).len();
        Identifier::Inline {
            bytes,
            len: len as u8,
        }
    }

    pub fn ip(ip: IpAddr) -> Identifier {
        let mut bytes = [0u8; INLINE];
        let mut cursor = &mut bytes[..];
        if write!(cursor, "{ip}").is_err() {
            return Identifier::Text(ip.to_string());
        }
        let len = INLINE - cursor.len();
        Identifier::Inline {
            bytes,
            len: len as u8,
        }
    }

    pub fn text(text: &str) -> Identifier {
        Identifier::Text(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        match self {
            Identifier::Inline { bytes, len } => {
                // Written from `str`s above: always UTF-8.
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or_default()
            }
            Identifier::Text(text) => text,
        }
    }
}

impl From<String> for Identifier {
    fn from(text: String) -> Identifier {
        Identifier::Text(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_as_kong_formats_them() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(
            Identifier::uuid(&id).as_str(),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(
            Identifier::ip("127.0.0.1".parse().unwrap()).as_str(),
            "127.0.0.1"
        );
        let long: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        assert_eq!(Identifier::ip(long).as_str(), long.to_string());
        assert_eq!(Identifier::text("x-tenant").as_str(), "x-tenant");
    }
}
