//! OCSP (RFC 6960) for tests: the Authority Information Access extension naming a
//! responder, and basic responses answering a request, signed with a test key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CustomExtension, SigningKey};
use x509_cert::Certificate;
use x509_cert::der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString};
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId,
    ResponseData, RevokedInfo, SingleResponse,
};

/// ecdsa-with-SHA256: rcgen's default key type (ECDSA P-256).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// An Authority Information Access extension naming `url` as the OCSP responder
/// (`SEQUENCE { SEQUENCE { id-ad-ocsp, [6] url } }`).
pub fn aia_extension(url: &str) -> CustomExtension {
    const ID_AD_OCSP: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    assert!(url.len() < 100, "short URLs only");
    let mut location = vec![0x86, url.len() as u8];
    location.extend_from_slice(url.as_bytes());
    let mut desc = vec![0x30, (ID_AD_OCSP.len() + location.len()) as u8];
    desc.extend_from_slice(&ID_AD_OCSP);
    desc.extend_from_slice(&location);
    let mut aia = vec![0x30, desc.len() as u8];
    aia.extend_from_slice(&desc);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia)
}

/// What the responder says of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked,
    Unknown,
}

/// The serial number of a CertID as an integer.
fn serial(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

fn time(at: SystemTime) -> OcspGeneralizedTime {
    let since = at.duration_since(UNIX_EPOCH).expect("clock");
    OcspGeneralizedTime(GeneralizedTime::from_unix_duration(since).expect("time"))
}

/// A successful basic response (DER) to the OCSPRequest `request`: the status of each
/// requested serial number, current for an hour, signed by `signer` (ECDSA P-256),
/// carrying `certs` (DER; a delegated responder's certificate).
pub fn answer(
    request: &[u8],
    status: impl Fn(u64) -> Status,
    signer: &impl SigningKey,
    certs: &[Vec<u8>],
) -> Vec<u8> {
    let request = OcspRequest::from_der(request).expect("OCSP request");
    let now = SystemTime::now();
    let responses = request
        .tbs_request
        .request_list
        .iter()
        .map(|r| SingleResponse {
            cert_id: r.req_cert.clone(),
            cert_status: match status(serial(r.req_cert.serial_number.as_bytes())) {
                Status::Good => CertStatus::good(),
                Status::Revoked => CertStatus::revoked(RevokedInfo {
                    revocation_time: time(now - Duration::from_secs(3600)),
                    revocation_reason: None,
                }),
                Status::Unknown => CertStatus::unknown(),
            },
            this_update: time(now - Duration::from_secs(60)),
            next_update: Some(time(now + Duration::from_secs(3600))),
            single_extensions: None,
        })
        .collect();
    let key_hash =
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, signer.der_bytes());
    let tbs = ResponseData {
        version: Default::default(),
        responder_id: ResponderId::ByKey(OctetString::new(key_hash.as_ref()).expect("hash")),
        produced_at: time(now),
        responses,
        response_extensions: None,
    };
    let signature = signer.sign(&tbs.to_der().expect("tbs")).expect("sign");
    let certs = certs
        .iter()
        .map(|der| Certificate::from_der(der).expect("certificate"))
        .collect::<Vec<_>>();
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(&signature).expect("signature"),
        certs: (!certs.is_empty()).then_some(certs),
    };
    OcspResponse::successful(basic)
        .expect("response")
        .to_der()
        .expect("encode")
}
