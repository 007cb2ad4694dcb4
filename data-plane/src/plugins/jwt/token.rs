//! JWT decoding and signature verification (Kong's `kong/plugins/jwt/jwt_parser.lua`).

use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Map, Value};

/// A decoded token.
pub struct Token {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `header.claims` as received: what the signature covers.
    signed: String,
    signature: Vec<u8>,
}

/// Algorithms Kong verifies.
const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA",
];

/// Kong's `base64_decode`: URL-safe alphabet, padding optional.
pub fn base64url(input: &str) -> Option<Vec<u8>> {
    let trimmed = input.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .ok()
}

impl Token {
    /// Kong's `decode_token`, with its error texts.
    pub fn decode(token: &str) -> Result<Token, &'static str> {
        let mut parts = token.splitn(3, '.');
        let (header64, claims64, signature64) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let json = |part: &str| -> Option<Map<String, Value>> {
            match serde_json::from_slice(&base64url(part)?).ok()? {
                Value::Object(map) => Some(map),
                _ => None,
            }
        };
        let (Some(header), Some(claims), Some(signature)) =
            (json(header64), json(claims64), base64url(signature64))
        else {
            return Err("invalid JSON");
        };
        let alg = header.get("alg").and_then(Value::as_str);
        if !alg.is_some_and(|a| ALGORITHMS.contains(&a)) {
            return Err("invalid alg");
        }
        Ok(Token {
            header,
            claims,
            signed: format!("{header64}.{claims64}"),
            signature,
        })
    }

    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// Checks the signature with a shared secret (HS*) or a PEM public key.
    pub fn verify(&self, key: &[u8]) -> bool {
        let data = self.signed.as_bytes();
        match self.alg() {
            "HS256" => hmac_matches(ring::hmac::HMAC_SHA256, key, data, &self.signature),
            "HS384" => hmac_matches(ring::hmac::HMAC_SHA384, key, data, &self.signature),
            "HS512" => hmac_matches(ring::hmac::HMAC_SHA512, key, data, &self.signature),
            "ES512" => {
                public_key(key).is_some_and(|point| es512_matches(&point, data, &self.signature))
            }
            alg => {
                let Some(algorithm) = public_algorithm(alg) else {
                    return false;
                };
                let Some(public) = public_key(key) else {
                    return false;
                };
                UnparsedPublicKey::new(algorithm, public)
                    .verify(data, &self.signature)
                    .is_ok()
            }
        }
    }
}

fn hmac_matches(alg: ring::hmac::Algorithm, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    let key = ring::hmac::Key::new(alg, key);
    ring::hmac::verify(&key, data, signature).is_ok()
}

/// ECDSA P-521 with SHA-512 (ring has no P-521). As in RFC 7518 §3.4, the signature is
/// `r || s`, 66 bytes each; `point` is the SEC1 public point from the key's SPKI.
fn es512_matches(point: &[u8], data: &[u8], signature: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier as _;
    let (Ok(key), Ok(signature)) = (
        p521::ecdsa::VerifyingKey::from_sec1_bytes(point),
        p521::ecdsa::Signature::from_slice(signature),
    ) else {
        return false;
    };
    key.verify(data, &signature).is_ok()
}

fn public_algorithm(alg: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
        "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
        "EdDSA" => &signature::ED25519,
        _ => return None,
    })
}

/// The key bits of a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as ring takes them (for EC
/// keys, the SEC1 point).
fn public_key(pem: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem).ok()?;
    let (_, parsed) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref()).ok()?;
    Some(parsed.subject_public_key.data.to_vec())
}

#[cfg(test)]
mod tests {
    use super::Token;

    /// A P-521 key and an ES512 token (`{"iss":"es512"}`) made with OpenSSL (Python's
    /// `cryptography`), so verification is checked against another implementation.
    const OPENSSL_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAMQbmWG4eRP+wbqPquRBKa09btc8V
3EMcaws8jdbK+9ajZqnoq0Lsc1LQ3zUBFNsSkXsdofjP7VfPW97MeXVqo6IA7M/X
Q+qK/LosPxLI0+6xeCOzVMjtNUno3NK6Jwfqz1HgYdkU3iIgRsl+L1SBx6SXdrB7
3QSVEQzS15tdSkrm9as=
-----END PUBLIC KEY-----
";
    const OPENSSL_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJlczUxMiJ9.\
        AQhGUjIIjZnorBUOFRw80hrg9F3gqwm0JlSYNdzFfvMeMAle9QLWvcQ5tG0whP1pdGTl4bBS4mdrXSYS8TXTDuhF\
        AR2en3Kp-tos1vV1q78NezA-pPpJciw_9tAhB4qTtf9juLf2cvC2KLp-far2uv0ICWePWGJFk87fOLpjf1Kq8Oin";

    #[test]
    fn es512_tokens_from_openssl_verify() {
        let token = Token::decode(OPENSSL_TOKEN).expect("decodes");
        assert_eq!(token.alg(), "ES512");
        assert!(token.verify(OPENSSL_PUBLIC_KEY.as_bytes()));
    }

    #[test]
    fn es512_rejects_changed_claims_and_short_signatures() {
        let (_, rest) = OPENSSL_TOKEN.split_once('.').expect("three parts");
        let (_, signature) = rest.split_once('.').expect("three parts");
        // `{"iss":"es513"}`: same header and signature, other claims.
        let tampered =
            format!("eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJlczUxMyJ9.{signature}");
        let token = Token::decode(&tampered).expect("decodes");
        assert!(!token.verify(OPENSSL_PUBLIC_KEY.as_bytes()));
        let short = &OPENSSL_TOKEN[..OPENSSL_TOKEN.len() - 4];
        let token = Token::decode(short).expect("decodes");
        assert!(!token.verify(OPENSSL_PUBLIC_KEY.as_bytes()));
        let token = Token::decode(OPENSSL_TOKEN).expect("decodes");
        assert!(
            !token.verify(b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
        );
    }
}
