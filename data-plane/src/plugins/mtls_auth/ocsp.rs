//! OCSP (RFC 6960) for mtls-auth's revocation check: the question for one certificate
//! (its CertID: SHA-1 of the issuer's name and key, and the serial number) and the
//! reading of the responder's answer.
//!
//! An answer counts only when it is a successful basic response, signed by the issuer
//! or by a responder certificate the issuer signed for `id-kp-OCSPSigning`, holding a
//! response for this CertID that is current (`thisUpdate` not in the future,
//! `nextUpdate` not past, with some clock skew allowed). Anything else is an error,
//! which the caller treats as no answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};
use x509_cert::der::asn1::{Any, ObjectIdentifier, OctetString};
use x509_cert::der::{Decode, Encode};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;

use super::signed::{self, Signed};
use super::trust::Revocation;

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// Clock difference tolerated with the responder on `thisUpdate` and `nextUpdate`.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The OCSP responder URLs (http, https) of a certificate's Authority Information Access.
pub fn responder_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() else {
            continue;
        };
        for desc in &aia.accessdescs {
            if desc.access_method != OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                continue;
            }
            if let GeneralName::URI(uri) = desc.access_location
                && (uri.starts_with("http://") || uri.starts_with("https://"))
            {
                urls.push(uri.to_string());
            }
        }
    }
    urls
}

/// The status question for one certificate, and what is needed to check the answer.
pub struct Query {
    cert_id: CertId,
    /// DER SubjectPublicKeyInfo of the issuer.
    issuer_key: Vec<u8>,
    /// DER Name of the issuer.
    issuer_name: Vec<u8>,
}

impl Query {
    /// The question about `leaf`, which `issuer` signed.
    pub fn new(leaf: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<Query, String> {
        let name_hash = Sha1::digest(issuer.subject().as_raw());
        let key_hash = Sha1::digest(&issuer.public_key().subject_public_key.data);
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA1,
                parameters: Some(Any::null()),
            },
            issuer_name_hash: OctetString::new(name_hash.to_vec()).map_err(|e| e.to_string())?,
            issuer_key_hash: OctetString::new(key_hash.to_vec()).map_err(|e| e.to_string())?,
            serial_number: SerialNumber::new(leaf.raw_serial()).map_err(|e| e.to_string())?,
        };
        Ok(Query {
            cert_id,
            issuer_key: issuer.public_key().raw.to_vec(),
            issuer_name: issuer.subject().as_raw().to_vec(),
        })
    }

    /// The DER OCSPRequest (unsigned, one request, no nonce: Kong sends none either).
    pub fn request(&self) -> Result<Vec<u8>, String> {
        OcspRequest {
            tbs_request: TbsRequest {
                request_list: vec![Request {
                    req_cert: self.cert_id.clone(),
                    single_request_extensions: None,
                }],
                ..Default::default()
            },
            optional_signature: None,
        }
        .to_der()
        .map_err(|e| e.to_string())
    }

    /// The status the responder's answer `body` gives at `now`; an error when the answer
    /// cannot be relied on.
    pub fn status(&self, body: &[u8], now: SystemTime) -> Result<Revocation, String> {
        let response =
            OcspResponse::from_der(body).map_err(|e| format!("invalid OCSP response: {e}"))?;
        if response.response_status != OcspResponseStatus::Successful {
            return Err(format!(
                "OCSP responder answered {:?}",
                response.response_status
            ));
        }
        let bytes = response
            .response_bytes
            .ok_or("OCSP response without a response")?;
        if bytes.response_type != ID_PKIX_OCSP_BASIC {
            return Err(format!("OCSP response type {}", bytes.response_type));
        }
        let raw = bytes.response.as_bytes();
        let basic = BasicOcspResponse::from_der(raw)
            .map_err(|e| format!("invalid basic OCSP response: {e}"))?;
        let signed = Signed::parse(raw).ok_or("invalid basic OCSP response")?;
        if !self.signed_by_issuer_or_delegate(&signed) {
            return Err("OCSP response not signed by the issuer or its responder".into());
        }
        let single = basic
            .tbs_response_data
            .responses
            .iter()
            .find(|r| self.is_our(&r.cert_id))
            .ok_or("OCSP response does not cover the certificate")?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        if single.this_update.0.to_unix_duration() > now + CLOCK_SKEW {
            return Err("OCSP response thisUpdate is in the future".into());
        }
        if let Some(next) = &single.next_update
            && next.0.to_unix_duration() + CLOCK_SKEW < now
        {
            return Err("OCSP response nextUpdate has passed".into());
        }
        Ok(match single.cert_status {
            CertStatus::Good(_) => Revocation::Good,
            CertStatus::Revoked(_) => Revocation::Revoked,
            CertStatus::Unknown(_) => Revocation::Unknown,
        })
    }

    fn is_our(&self, id: &CertId) -> bool {
        let ours = &self.cert_id;
        id.hash_algorithm.oid == ours.hash_algorithm.oid
            && id.issuer_name_hash == ours.issuer_name_hash
            && id.issuer_key_hash == ours.issuer_key_hash
            && id.serial_number.as_bytes() == ours.serial_number.as_bytes()
    }

    /// RFC 6960 §4.2.2.2: the issuer's own key, or a certificate in the response that
    /// the issuer signed, with `id-kp-OCSPSigning`, valid now.
    fn signed_by_issuer_or_delegate(&self, signed: &Signed<'_>) -> bool {
        if signed.verified_by(&self.issuer_key) {
            return true;
        }
        response_certs(signed.rest).into_iter().any(|der| {
            let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
                return false;
            };
            let for_ocsp = cert
                .extended_key_usage()
                .ok()
                .flatten()
                .is_some_and(|eku| eku.value.ocsp_signing);
            for_ocsp
                && cert.validity().is_valid()
                && cert.issuer().as_raw() == self.issuer_name.as_slice()
                && Signed::parse(der).is_some_and(|c| c.verified_by(&self.issuer_key))
                && signed.verified_by(cert.public_key().raw)
        })
    }
}

/// The certificates of a BasicOCSPResponse (`[0] EXPLICIT SEQUENCE OF Certificate`,
/// after the signature), as received.
fn response_certs(rest: &[u8]) -> Vec<&[u8]> {
    let mut certs = Vec::new();
    let Some(list) = signed::element(rest)
        .filter(|e| e.tag == 0xa0)
        .and_then(|e| signed::element(e.contents))
    else {
        return certs;
    };
    let mut items = list.contents;
    while let Some(item) = signed::element(items) {
        certs.push(item.whole);
        items = item.rest;
    }
    certs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
        SigningKey,
    };
    use x509_cert::der::asn1::{BitString, GeneralizedTime};
    use x509_ocsp::{OcspGeneralizedTime, ResponderId, ResponseData, SingleResponse};

    use super::*;

    const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

    /// `SEQUENCE { SEQUENCE { id-ad-ocsp, [6] url } }`.
    fn aia(url: &str) -> CustomExtension {
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
        let mut desc = vec![0x30, (oid.len() + 2 + url.len()) as u8];
        desc.extend_from_slice(&oid);
        desc.extend_from_slice(&[0x86, url.len() as u8]);
        desc.extend_from_slice(url.as_bytes());
        let mut value = vec![0x30, desc.len() as u8];
        value.extend_from_slice(&desc);
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], value)
    }

    struct Pki {
        ca_key: KeyPair,
        ca: Vec<u8>,
        leaf: Vec<u8>,
    }

    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ocsp unit ca");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let mut leaf_params = CertificateParams::new(vec!["alice".to_string()]).unwrap();
        leaf_params.serial_number = Some(rcgen::SerialNumber::from(4242u64));
        leaf_params.custom_extensions = vec![aia("http://ocsp.test/check")];
        let leaf = leaf_params
            .signed_by(
                &KeyPair::generate().unwrap(),
                &Issuer::from_params(&ca_params, &ca_key),
            )
            .unwrap();
        Pki {
            ca: ca.der().to_vec(),
            leaf: leaf.der().to_vec(),
            ca_key,
        }
    }

    fn query(pki: &Pki) -> Query {
        let (_, leaf) = x509_parser::parse_x509_certificate(&pki.leaf).unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(&pki.ca).unwrap();
        Query::new(&leaf, &ca).unwrap()
    }

    fn at(offset_secs: i64) -> OcspGeneralizedTime {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let when = Duration::from_secs(now.as_secs().checked_add_signed(offset_secs).unwrap());
        OcspGeneralizedTime(GeneralizedTime::from_unix_duration(when).unwrap())
    }

    /// A basic response with one SingleResponse, signed by `signer`.
    fn response(single: SingleResponse, signer: &KeyPair) -> Vec<u8> {
        let tbs = ResponseData {
            version: Default::default(),
            responder_id: ResponderId::ByKey(OctetString::new(vec![0; 20]).unwrap()),
            produced_at: at(0),
            responses: vec![single],
            response_extensions: None,
        };
        let signature = signer.sign(&tbs.to_der().unwrap()).unwrap();
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&signature).unwrap(),
            certs: None,
        };
        OcspResponse::successful(basic).unwrap().to_der().unwrap()
    }

    fn single(query: &Query, status: CertStatus) -> SingleResponse {
        SingleResponse {
            cert_id: query.cert_id.clone(),
            cert_status: status,
            this_update: at(-60),
            next_update: Some(at(3600)),
            single_extensions: None,
        }
    }

    #[test]
    fn the_responder_url_comes_from_authority_information_access() {
        let pki = pki();
        let (_, leaf) = x509_parser::parse_x509_certificate(&pki.leaf).unwrap();
        assert_eq!(responder_urls(&leaf), vec!["http://ocsp.test/check"]);
        let (_, ca) = x509_parser::parse_x509_certificate(&pki.ca).unwrap();
        assert!(responder_urls(&ca).is_empty());
    }

    #[test]
    fn the_request_names_the_certificate_by_issuer_hashes_and_serial() {
        let pki = pki();
        let query = query(&pki);
        let request = OcspRequest::from_der(&query.request().unwrap()).unwrap();
        let [asked] = request.tbs_request.request_list.as_slice() else {
            panic!("one request");
        };
        let id = &asked.req_cert;
        assert_eq!(id.hash_algorithm.oid, ID_SHA1);
        let (_, ca) = x509_parser::parse_x509_certificate(&pki.ca).unwrap();
        assert_eq!(
            id.issuer_name_hash.as_bytes(),
            Sha1::digest(ca.subject().as_raw()).as_slice()
        );
        assert_eq!(
            id.issuer_key_hash.as_bytes(),
            Sha1::digest(&ca.public_key().subject_public_key.data).as_slice()
        );
        assert_eq!(id.serial_number.as_bytes(), [0x10, 0x92]);
    }

    #[test]
    fn signed_answers_map_to_the_status() {
        let pki = pki();
        let query = query(&pki);
        let now = SystemTime::now();
        let revoked = CertStatus::revoked(x509_ocsp::RevokedInfo {
            revocation_time: at(-3600),
            revocation_reason: None,
        });
        for (status, expected) in [
            (CertStatus::good(), Revocation::Good),
            (revoked, Revocation::Revoked),
            (CertStatus::unknown(), Revocation::Unknown),
        ] {
            let body = response(single(&query, status), &pki.ca_key);
            assert_eq!(query.status(&body, now), Ok(expected));
        }
    }

    #[test]
    fn answers_that_cannot_be_relied_on_are_errors() {
        let pki = pki();
        let query = query(&pki);
        let now = SystemTime::now();
        let good = || single(&query, CertStatus::good());

        let other_key = KeyPair::generate().unwrap();
        assert!(query.status(&response(good(), &other_key), now).is_err());

        let stale = SingleResponse {
            this_update: at(-7200),
            next_update: Some(at(-3600)),
            ..good()
        };
        assert!(query.status(&response(stale, &pki.ca_key), now).is_err());
        let future = SingleResponse {
            this_update: at(3600),
            ..good()
        };
        assert!(query.status(&response(future, &pki.ca_key), now).is_err());
        let open_ended = SingleResponse {
            next_update: None,
            ..good()
        };
        assert_eq!(
            query.status(&response(open_ended, &pki.ca_key), now),
            Ok(Revocation::Good)
        );

        let mut other_cert = good();
        other_cert.cert_id.serial_number = SerialNumber::new(&[0x01]).unwrap();
        assert!(
            query
                .status(&response(other_cert, &pki.ca_key), now)
                .is_err()
        );

        let try_later = OcspResponse::try_later().to_der().unwrap();
        assert!(query.status(&try_later, now).is_err());
        assert!(query.status(b"not der", now).is_err());
    }
}
