//! What mtls-auth reads from a client certificate: the subject names it matches consumers
//! with (subject alternative names, then the common name), and the subject DN in nginx's
//! `$ssl_client_s_dn` form (RFC 2253).

use std::net::IpAddr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::objects::{oid_registry, oid2abbrev, oid2sn};
use x509_parser::oid_registry::{OID_PKCS9_EMAIL_ADDRESS, Oid};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// The identity of a verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Subject alternative names (DNS, e-mail, URI, IP, directory name attributes), then
    /// the common name: the order Kong tries them in.
    pub names: Vec<String>,
    pub common_name: Option<String>,
    /// `$ssl_client_s_dn`: `CN=client,O=Org` (RFC 2253: last RDN first).
    pub dn: String,
}

impl Subject {
    /// Reads `cert`; `dirname_matcher` picks the attributes of directory-name SANs that
    /// count as names (OIDs, long or short names; empty: all of them).
    pub fn of(cert: &X509Certificate<'_>, dirname_matcher: &[String]) -> Subject {
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                        names.push((*s).to_string())
                    }
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            names.push(ip.to_string());
                        }
                    }
                    GeneralName::DirectoryName(dir) => {
                        for attr in dir.iter_attributes() {
                            if matches_attribute(attr.attr_type(), dirname_matcher)
                                && let Some(value) = attribute_text(attr)
                            {
                                names.push(value);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(attribute_text);
        if let Some(cn) = &common_name {
            names.push(cn.clone());
        }
        Subject {
            names,
            common_name,
            dn: rfc2253(cert.subject()),
        }
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn matches_attribute(oid: &Oid<'_>, matcher: &[String]) -> bool {
    if matcher.is_empty() {
        return true;
    }
    let dotted = oid.to_id_string();
    let long = oid2sn(oid, oid_registry()).ok();
    let short = oid2abbrev(oid, oid_registry()).ok();
    matcher
        .iter()
        .any(|m| *m == dotted || Some(m.as_str()) == long || Some(m.as_str()) == short)
}

/// An attribute value as text (string types; others as lossy UTF-8 of their bytes).
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    match attr.as_str() {
        Ok(s) => Some(s.to_string()),
        Err(_) => std::str::from_utf8(attr.as_slice())
            .ok()
            .map(str::to_string),
    }
}

/// The attribute names OpenSSL prints in RFC 2253 form.
fn attribute_name(oid: &Oid<'_>) -> String {
    if *oid == OID_PKCS9_EMAIL_ADDRESS {
        return "emailAddress".to_string();
    }
    match oid2abbrev(oid, oid_registry()) {
        Ok(name) => name.to_string(),
        Err(_) => oid.to_id_string(),
    }
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// nginx's `$ssl_client_s_dn` (OpenSSL's `XN_FLAG_RFC2253`): RDNs last first, joined by
/// `,`; attributes of one RDN joined by `+`.
pub fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let value = attribute_text(attr).unwrap_or_default();
                    format!("{}={}", attribute_name(attr.attr_type()), escape(&value))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_as_rfc2253_says() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(escape("#1"), "\\#1");
        assert_eq!(escape("plain"), "plain");
    }
}
