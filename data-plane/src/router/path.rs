//! Request path handling: normalisation before matching, and the upstream path after a match.
//!
//! Kong matches routes against a *normalised* request path (percent-decoding of everything but
//! reserved characters, dot-segment removal, merged slashes) and sends the upstream a path built
//! from that normalised path, the route's `strip_path` and `path_handling`, and the service's
//! `path`, re-encoded so that it is safe on the wire. Paths are handled as bytes throughout:
//! decoding `%FF` yields a byte that is not valid UTF-8 on its own, and that must neither panic
//! nor be lost.

use std::borrow::Cow;

use common::model::PathHandling;

/// RFC 3986 reserved characters (plus `%`). Percent-encoded triplets of these stay encoded
/// (with upper-case hex digits) because decoding them would change the path's meaning.
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` triplets unless they encode a reserved character; reserved triplets are kept
/// with their hex digits upper-cased. A decoded byte is never re-scanned (no double decoding).
fn percent_decode_unreserved(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%'
            && i + 2 < path.len()
            && let (Some(hi), Some(lo)) = (hex_value(path[i + 1]), hex_value(path[i + 2]))
        {
            let decoded = hi * 16 + lo;
            if RESERVED.contains(&decoded) {
                out.push(b'%');
                out.push(path[i + 1].to_ascii_uppercase());
                out.push(path[i + 2].to_ascii_uppercase());
            } else {
                out.push(decoded);
            }
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Removes dot segments (RFC 3986 §5.2.4, as Kong implements it) and merges repeated slashes.
pub(super) fn remove_dot_segments(mut input: &[u8]) -> Vec<u8> {
    // Each output segment is kept as a range into `out`, so that `..` can pop the last one.
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut segment_starts: Vec<usize> = Vec::new();
    let pop = |out: &mut Vec<u8>, starts: &mut Vec<usize>| {
        if let Some(start) = starts.pop() {
            out.truncate(start);
        }
    };
    while !input.is_empty() {
        match input {
            b"/." => input = b"/",
            b"/.." => {
                input = b"/";
                pop(&mut out, &mut segment_starts);
            }
            b"." | b".." => input = b"",
            [b'.', b'.', b'/', rest @ ..] => input = rest,
            [b'.', b'/', rest @ ..] => input = rest,
            [b'/', b'.', b'/', ..] => input = &input[2..],
            [b'/', b'.', b'.', b'/', ..] => {
                input = &input[3..];
                pop(&mut out, &mut segment_starts);
            }
            [b'/', b'/', ..] => input = &input[1..],
            _ => {
                // The segment runs up to (not including) the next '/' after the first byte.
                let end = input[1..]
                    .iter()
                    .position(|&b| b == b'/')
                    .map_or(input.len(), |p| p + 1);
                segment_starts.push(out.len());
                out.extend_from_slice(&input[..end]);
                input = &input[end..];
            }
        }
    }
    out
}

/// What a path needs before matching, found in one pass over its bytes.
fn needs_work(bytes: &[u8]) -> (bool, bool) {
    let (mut escapes, mut segments) = (false, false);
    let mut prev = 0u8;
    for &b in bytes {
        escapes |= b == b'%';
        segments |= b == b'.' || (b == b'/' && prev == b'/');
        prev = b;
    }
    (escapes, segments)
}

/// The path the router matches against: percent-decoded (except reserved characters), without
/// dot segments and with repeated slashes merged. Borrows when nothing needs changing.
pub fn normalize(path: &str) -> Cow<'_, [u8]> {
    let bytes = path.as_bytes();
    let (escapes, segments) = needs_work(bytes);
    if !escapes && !segments {
        return Cow::Borrowed(bytes);
    }
    let decoded: Cow<'_, [u8]> = if escapes {
        Cow::Owned(percent_decode_unreserved(bytes))
    } else {
        Cow::Borrowed(bytes)
    };
    // Decoding may have produced dots (`%2E`) but never slashes (`%2F` is reserved).
    if !segments && !decoded.contains(&b'.') {
        return decoded;
    }
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Drops a leading `./` or `../` (or a lone `.`/`..`) left after cutting a matched prefix off
/// the path, so that `/route./req` stripped of `/route` continues with `req`.
pub fn sanitize_postfix(postfix: &[u8]) -> &[u8] {
    match postfix {
        b"." | b".." => b"",
        [b'.', b'/', rest @ ..] => rest,
        [b'.', b'.', b'/', rest @ ..] => rest,
        other => other,
    }
}

/// Characters sent upstream as they are; every other byte is percent-encoded. `%` itself is
/// kept, so escapes that survived normalisation (reserved characters) are forwarded unchanged.
const WIRE_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'?'
                    | b'@'
                    | b'['
                    | b']'
                    | b'-'
                    | b'_'
                    | b'.'
                    | b'~'
                    | b'%'
            );
        b += 1;
    }
    table
};

/// Percent-encodes the bytes that are not safe in a request target (e.g. a decoded space
/// becomes `%20` again). The result is always ASCII.
#[cfg(test)]
fn escape(path: &[u8]) -> String {
    escape_parts(&[path])
}

/// [`escape`] over the concatenation of `parts`.
fn escape_parts(parts: &[&[u8]]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 8);
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            let safe = rest
                .iter()
                .position(|&b| !WIRE_SAFE[usize::from(b)])
                .unwrap_or(rest.len());
            out.extend_from_slice(&rest[..safe]);
            if let Some(&b) = rest.get(safe) {
                out.extend_from_slice(&[
                    b'%',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0x0f)],
                ]);
                rest = &rest[safe + 1..];
            } else {
                rest = &[];
            }
        }
    }
    // Only ASCII was written, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Inputs of the upstream path computation for one match.
pub struct JoinInput<'a> {
    /// The service's `path`, or `/` when the service has none (or there is no service).
    pub service_path: &'a [u8],
    /// The normalised request path.
    pub request_path: &'a [u8],
    /// What follows the matched route path (already sanitised); for a route matched without a
    /// path, the request path without its leading slash.
    pub postfix: &'a [u8],
    pub strip_path: bool,
    pub path_handling: PathHandling,
}

/// Builds the upstream path exactly as Kong's traditional router does, then escapes it as
/// Kong does before sending it.
pub fn upstream_path(input: &JoinInput<'_>) -> String {
    let parts = match input.path_handling {
        PathHandling::V0 => join_v0(input),
        PathHandling::V1 => join_v1(input),
    };
    escape_parts(&parts)
}

/// The upstream path as up to three consecutive parts (unused ones empty).
type Parts<'a> = [&'a [u8]; 3];

fn concat<'a>(a: &'a [u8], b: &'a [u8]) -> Parts<'a> {
    [a, b, b""]
}

/// The request path without its first byte (the leading slash); empty for an empty path.
fn without_first(path: &[u8]) -> &[u8] {
    path.get(1..).unwrap_or_default()
}

/// `v1`: plain concatenation of the service path and the (stripped) request path, dropping one
/// slash when both sides bring one.
fn join_v1<'a>(input: &JoinInput<'a>) -> Parts<'a> {
    let base = input.service_path;
    if input.strip_path {
        if base.ends_with(b"/") && input.postfix.starts_with(b"/") {
            concat(&base[..base.len() - 1], input.postfix)
        } else {
            concat(base, input.postfix)
        }
    } else {
        concat(base, without_first(input.request_path))
    }
}

/// `v0`: joins with a slash between service path and request remainder, and keeps a trailing
/// slash of the request when the whole route path was stripped.
fn join_v0<'a>(input: &JoinInput<'a>) -> Parts<'a> {
    let base = input.service_path;
    let postfix = input.postfix;
    let req = input.request_path;
    let only = |p: &'a [u8]| concat(p, b"");
    if base.ends_with(b"/") {
        if !input.strip_path {
            return concat(base, without_first(req));
        }
        if postfix.is_empty() {
            if base == b"/" || req.ends_with(b"/") {
                return only(base);
            }
            return only(&base[..base.len() - 1]);
        }
        if postfix.starts_with(b"/") {
            return concat(&base[..base.len() - 1], postfix);
        }
        return concat(base, postfix);
    }
    if !input.strip_path {
        if req == b"/" {
            return only(base);
        }
        return concat(base, req);
    }
    if postfix.is_empty() {
        if req.len() > 1 && req.ends_with(b"/") {
            return concat(base, b"/");
        }
        return only(base);
    }
    if postfix.starts_with(b"/") {
        return concat(base, postfix);
    }
    [base, b"/", postfix]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        String::from_utf8_lossy(&normalize(p)).into_owned()
    }

    // Catalogue §2.3 #45/#46: normalisation before matching.
    #[test]
    fn normalizes_dot_segments_slashes_and_unreserved_escapes() {
        assert_eq!(norm("/foo/a/../bar"), "/foo/bar");
        assert_eq!(norm("/foo//bar"), "/foo/bar");
        assert_eq!(norm("/foo/./bar"), "/foo/bar");
        assert_eq!(norm("/h%65llo"), "/hello");
        assert_eq!(norm("/anything/./a/../wor%6cd/a/../b"), "/anything/world/b");
        assert_eq!(norm("/route%2E/req"), "/route./req");
        assert_eq!(norm("/foo/.."), "/");
        assert_eq!(norm("/foo/bar/../../.."), "/");
        assert_eq!(norm("/../x"), "/x");
        assert_eq!(norm(""), "");
        assert_eq!(norm("/"), "/");
        assert_eq!(norm("/a/."), "/a/");
        assert_eq!(norm("///"), "/");
    }

    // Catalogue §2.3 #43/#48: reserved characters stay encoded (hex upper-cased), no double
    // decoding.
    #[test]
    fn keeps_reserved_escapes() {
        assert_eq!(norm("/endel%2Fst"), "/endel%2Fst");
        assert_eq!(norm("/endel%2fst"), "/endel%2Fst");
        assert_eq!(norm("/a%2541"), "/a%2541");
        assert_eq!(norm("/cat%20and%20dog"), "/cat and dog");
        assert_eq!(norm("/bad%zz/%4"), "/bad%zz/%4");
        assert_eq!(normalize("/%ff").as_ref(), b"/\xff");
    }

    // Catalogue §2.3 #47: special characters are re-encoded on the way out.
    #[test]
    fn escapes_unsafe_bytes() {
        assert_eq!(
            escape(b"/anything/world/cat and dog"),
            "/anything/world/cat%20and%20dog"
        );
        assert_eq!(escape(b"/endel%2Fst"), "/endel%2Fst");
        assert_eq!(escape(b"/\xff\"<>"), "/%FF%22%3C%3E");
        assert_eq!(
            escape(b"/a-b_c.d~e!$&'()*+,;=:@[]"),
            "/a-b_c.d~e!$&'()*+,;=:@[]"
        );
    }

    #[test]
    fn sanitizes_postfix() {
        assert_eq!(sanitize_postfix(b"./req"), b"req");
        assert_eq!(sanitize_postfix(b"../req"), b"req");
        assert_eq!(sanitize_postfix(b".."), b"");
        assert_eq!(sanitize_postfix(b"/req"), b"/req");
    }
}
