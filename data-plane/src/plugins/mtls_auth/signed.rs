//! Signature checks on DER structures shaped as `SEQUENCE { tbs, AlgorithmIdentifier,
//! BIT STRING, ... }` (certificates, OCSP's BasicOCSPResponse), with the signature
//! algorithms rustls verifies certificates with.
//!
//! The signed bytes are taken as received rather than re-encoded, so a responder's
//! encoding choices cannot break a valid signature.

use rustls::pki_types::SignatureVerificationAlgorithm;

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;

/// One DER element: its tag, its contents, the whole element, and what follows it.
pub struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
    pub whole: &'a [u8],
    pub rest: &'a [u8],
}

/// The first DER element of `input` (single-byte tags, definite lengths).
pub fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_len) = after_tag.split_first()?;
    let (len, body) = if first < 0x80 {
        (usize::from(first), after_len)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || after_len.len() < count {
            return None;
        }
        let len = after_len[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &after_len[count..])
    };
    if body.len() < len {
        return None;
    }
    let header = input.len() - body.len();
    Some(Element {
        tag,
        contents: &body[..len],
        whole: &input[..header + len],
        rest: &body[len..],
    })
}

/// The parts of a signed structure.
pub struct Signed<'a> {
    /// The signed element, as received.
    pub tbs: &'a [u8],
    /// The contents of the signature's AlgorithmIdentifier.
    pub algorithm: &'a [u8],
    pub signature: &'a [u8],
    /// The elements after the signature (a BasicOCSPResponse's `[0] certs`).
    pub rest: &'a [u8],
}

impl<'a> Signed<'a> {
    pub fn parse(der: &'a [u8]) -> Option<Signed<'a>> {
        let outer = element(der).filter(|e| e.tag == SEQUENCE)?;
        let tbs = element(outer.contents)?;
        let algorithm = element(tbs.rest).filter(|e| e.tag == SEQUENCE)?;
        let bits = element(algorithm.rest).filter(|e| e.tag == BIT_STRING)?;
        // The signature is a whole number of bytes: no unused bits.
        let signature = bits.contents.strip_prefix(&[0])?;
        Some(Signed {
            tbs: tbs.whole,
            algorithm: algorithm.contents,
            signature,
            rest: bits.rest,
        })
    }

    /// Whether the key of `spki` (a DER SubjectPublicKeyInfo) made this signature.
    pub fn verified_by(&self, spki: &[u8]) -> bool {
        let Some(info) = element(spki).filter(|e| e.tag == SEQUENCE) else {
            return false;
        };
        let Some(key_algorithm) = element(info.contents).filter(|e| e.tag == SEQUENCE) else {
            return false;
        };
        let Some(key) = element(key_algorithm.rest)
            .filter(|e| e.tag == BIT_STRING)
            .and_then(|e| e.contents.strip_prefix(&[0]))
        else {
            return false;
        };
        algorithms()
            .iter()
            .filter(|alg| {
                *alg.public_key_alg_id() == *key_algorithm.contents
                    && *alg.signature_alg_id() == *self.algorithm
            })
            .any(|alg| alg.verify_signature(key, self.tbs, self.signature).is_ok())
    }
}

fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_with_short_and_long_lengths() {
        let short = element(&[0x04, 0x02, 0xaa, 0xbb, 0x05]).expect("short");
        assert_eq!(
            (short.tag, short.contents, short.rest),
            (0x04, &[0xaa, 0xbb][..], &[0x05][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7; 0x80]);
        let long = element(&long).expect("long");
        assert_eq!(long.contents.len(), 0x80);
        assert_eq!(long.whole.len(), 0x83);
    }

    #[test]
    fn truncated_or_indefinite_elements_are_refused() {
        assert!(element(&[]).is_none());
        assert!(element(&[0x04]).is_none());
        assert!(element(&[0x04, 0x03, 0x00]).is_none());
        assert!(element(&[0x30, 0x80, 0x00, 0x00]).is_none());
        assert!(element(&[0x04, 0x82, 0x01]).is_none());
        assert!(Signed::parse(&[0x30, 0x00]).is_none());
    }
}
