//! Regex paths (`~/users/\d+`) and regex header values (`~*pattern`).
//!
//! Kong runs these with PCRE in byte mode (no UTF-8 flag): `\d`, `\w` and `.` are ASCII/byte
//! oriented and a decoded `%FF` in the path is just a byte. We compile with the `regex` crate's
//! byte API with Unicode mode off, which has the same semantics for the syntax both engines
//! share; a pattern that needs Unicode mode (e.g. `\p{L}`) is compiled with it on. Constructs
//! PCRE has and `regex` lacks (look-around, back-references) are rejected at build time with an
//! error that names the route.
//!
//! Path regexes are anchored at the start of the path (not at the end). To avoid running every
//! regex on every request, each one is indexed under its literal prefix (`/users/` for
//! `/users/\d+`), computed by `regex-syntax`'s literal extractor: any match must begin with it.

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// A compiled path regex.
#[derive(Debug)]
pub struct PathRegex {
    /// The pattern as configured, without the leading `~` (Kong's `matches.uri`).
    pub pattern: String,
    /// The pattern anchored at the start of the path.
    pub regex: Regex,
    /// Every match starts with this (possibly empty) byte string.
    pub literal_prefix: Vec<u8>,
}

/// The size limit for one compiled regex; a route table is not the place for giant automata.
const SIZE_LIMIT: usize = 2 * (1 << 20);

fn parse_hir(pattern: &str, unicode: bool) -> Result<regex_syntax::hir::Hir, String> {
    regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

fn build(pattern: &str, unicode: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(unicode)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

impl PathRegex {
    /// Compiles a route path regex (without its `~`).
    pub fn compile(pattern: &str) -> Result<PathRegex, String> {
        // Parse the pattern on its own first: wrapping an unbalanced pattern such as `a)(b` in
        // a group could otherwise turn it into a valid one.
        let (hir, unicode) = match parse_hir(pattern, false) {
            Ok(hir) => (hir, false),
            Err(ascii_err) => match parse_hir(pattern, true) {
                Ok(hir) => (hir, true),
                Err(_) => return Err(ascii_err),
            },
        };
        let regex = build(&format!(r"\A(?:{pattern})"), unicode)?;
        let literal_prefix = Extractor::new()
            .kind(ExtractKind::Prefix)
            .extract(&hir)
            .longest_common_prefix()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        Ok(PathRegex {
            pattern: pattern.to_string(),
            regex,
            literal_prefix,
        })
    }

    pub fn is_match(&self, path: &[u8]) -> bool {
        self.regex.is_match(path)
    }
}

/// Compiles a header value regex (the part after `~*`), matched unanchored against the
/// lower-cased header value, as Kong does.
pub fn compile_header_regex(pattern: &str) -> Result<Regex, String> {
    parse_hir(pattern, false)
        .and_then(|_| build(pattern, false))
        .or_else(|ascii_err| {
            parse_hir(pattern, true)
                .and_then(|_| build(pattern, true))
                .map_err(|_| ascii_err)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(p: &str) -> PathRegex {
        PathRegex::compile(p).expect("valid regex")
    }

    #[test]
    fn extracts_literal_prefixes() {
        assert_eq!(compile(r"/users/\d+/profile").literal_prefix, b"/users/");
        assert_eq!(compile(r"/status/(re)").literal_prefix, b"/status/re");
        assert_eq!(compile(r"/(a|b)/x").literal_prefix, b"/");
        assert_eq!(compile(r"/[0]?route").literal_prefix, b"/");
        assert_eq!(compile(r"/ab?c").literal_prefix, b"/a");
        assert_eq!(compile(r".*").literal_prefix, b"");
        assert_eq!(compile(r"(?i)/abc").literal_prefix, b"/");
    }

    // Catalogue §2.2 #16: anchored at the start only.
    #[test]
    fn anchored_at_start() {
        let r = compile(r"/prefix/[0-9]+");
        assert!(r.is_match(b"/prefix/123"));
        assert!(r.is_match(b"/prefix/123/more"));
        assert!(!r.is_match(b"/extra/prefix/123"));
        // Alternation stays anchored on every branch.
        let r = compile(r"/a|/b");
        assert!(r.is_match(b"/b"));
        assert!(!r.is_match(b"/x/b"));
    }

    #[test]
    fn rejects_invalid_and_unbalanced_patterns() {
        assert!(PathRegex::compile(r"/a)(b").is_err());
        assert!(PathRegex::compile(r"/(?=x)").is_err());
        assert!(PathRegex::compile(r"/(a)\1").is_err());
        assert!(PathRegex::compile(r"/[").is_err());
    }

    #[test]
    fn accepts_kong_style_syntax() {
        // Named groups in both spellings [PX/02-router:2561], escaped slashes, byte paths.
        assert!(PathRegex::compile(r"/delay/(?<delay>[^\/]+)$").is_ok());
        assert!(PathRegex::compile(r"/users/(?P<id>\d+)").is_ok());
        assert!(compile(r"/x/.").is_match(b"/x/\xff"));
        // Needs Unicode mode: falls back to it.
        assert!(compile(r"/\p{L}+").is_match("/é".as_bytes()));
        // The user-agent pattern of Kong's unit test [U/router:347].
        let ua = compile_header_regex(r"windows|linux|os\s+x\s*[\d\._]+|solaris|bsd")
            .expect("valid header regex");
        assert!(ua.is_match(b"mozilla/5.0 (x11; linux x86_64)"));
    }
}
