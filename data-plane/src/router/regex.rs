//! Regex paths (`~/users/\d+`) and regex header values (`~*pattern`).
//!
//! Kong runs these with PCRE in byte mode (no UTF-8 flag): `\d`, `\w` and `.` are ASCII/byte
//! oriented and a decoded `%FF` in the path is just a byte. We parse with `regex-syntax` with
//! Unicode mode off, which has the same semantics for the syntax both engines share; a pattern
//! that needs Unicode mode (e.g. `\p{L}`) is parsed with it on. Constructs PCRE has and this
//! engine lacks (look-around, back-references) are rejected at build time with an error that
//! names the route.
//!
//! Path regexes are validated when the router is built (and their literal prefix extracted)
//! but their automaton is built on first use, as Kong's PCRE cache does:
//! building automata for thousands of regex routes would otherwise dominate the build time.
//! We use `regex-automata`'s meta engine without its fully compiled DFA, whose construction
//! is slow, and without a prefilter (pointless for an anchored regex whose literal prefix is
//! already indexed); the lazy DFA and the one-pass DFA serve short paths well.
//!
//! Path regexes are anchored at the start of the path (not at the end). To avoid running every
//! regex on every request, each one is indexed under its literal prefix (`/users/` for
//! `/users/\d+`), computed by `regex-syntax`'s literal extractor: any match must begin with it.

use std::sync::OnceLock;

use regex_automata::meta::{Config, Regex};
use regex_automata::util::captures::Captures;
use regex_automata::{Anchored, Input, PatternID};
use regex_syntax::hir::Hir;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// The size limit for one compiled regex; a route table is not the place for giant automata.
const SIZE_LIMIT: usize = 2 * (1 << 20);

fn parse(pattern: &str, unicode: bool) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())
}

/// Parses in byte mode, falling back to Unicode mode for patterns that need it; says which.
fn parse_either(pattern: &str) -> Result<(Hir, bool), String> {
    match parse(pattern, false) {
        Ok(hir) => Ok((hir, false)),
        Err(ascii_err) => parse(pattern, true)
            .map(|hir| (hir, true))
            .map_err(|_| ascii_err),
    }
}

/// Builds the meta regex. The fully compiled DFA is disabled: it takes hundreds of
/// microseconds to build and is no faster than the lazy DFA on short paths. The one-pass DFA
/// (fast captures for the usual route regexes) is kept. A literal prefilter is pointless for
/// a regex anchored at the start of a path whose literal prefix is already indexed.
fn build(hir: &Hir, anchored_use: bool) -> Result<Regex, String> {
    Regex::builder()
        .configure(
            Config::new()
                .dfa(false)
                .auto_prefilter(!anchored_use)
                .nfa_size_limit(Some(SIZE_LIMIT))
                .hybrid_cache_capacity(SIZE_LIMIT),
        )
        .build_from_hir(hir)
        .map_err(|e| e.to_string())
}

/// The literal prefix of a (valid) pattern read straight off its text, which is much cheaper
/// than literal extraction on the parsed pattern: plain characters and escaped punctuation up
/// to the first other construct, minus a last character made optional by `?`, `*` or `{..}`.
/// `None` when the pattern has a `|` (an alternation may start anywhere; the extractor
/// handles those). The result may be shorter than the longest possible prefix, never longer.
fn quick_literal_prefix(pattern: &str) -> Option<Vec<u8>> {
    let bytes = pattern.as_bytes();
    if bytes.contains(&b'|') {
        return None;
    }
    let mut out = Vec::new();
    let mut last_start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'?' | b'*' | b'{' => {
                out.truncate(last_start);
                break;
            }
            b'\\' => match bytes.get(i + 1) {
                Some(&e) if e.is_ascii_punctuation() => {
                    last_start = out.len();
                    out.push(e);
                    i += 2;
                }
                _ => break,
            },
            b'.' | b'+' | b'(' | b')' | b'[' | b']' | b'}' | b'^' | b'$' => break,
            _ if b.is_ascii() && !b.is_ascii_whitespace() && !b.is_ascii_control() => {
                last_start = out.len();
                out.push(b);
                i += 1;
            }
            _ => break,
        }
    }
    Some(out)
}

/// A validated path regex; its automaton is built on first use.
#[derive(Debug)]
pub struct PathRegex {
    /// The pattern as configured, without the leading `~` (Kong's `matches.uri`).
    pub pattern: String,
    /// `None` if building failed (only possible by exceeding the size limit); such a regex
    /// never matches, and the failure is logged once.
    regex: OnceLock<Option<Regex>>,
    /// Every match starts with this (possibly empty) byte string.
    pub literal_prefix: Vec<u8>,
}

/// A match of a path regex: where it ends, and its capture groups.
pub struct PathMatch {
    pub end: usize,
    /// Groups 1.. in order: (name, value); a group that did not participate is empty.
    pub groups: Vec<(Option<String>, String)>,
}

impl PathRegex {
    /// Validates a route path regex (without its `~`) and extracts its literal prefix.
    ///
    /// Validation normally only runs the syntax (AST) parser: the later translation step can
    /// only fail, in both byte and Unicode modes, on Unicode property classes (`\p{..}`), so
    /// patterns containing those are fully parsed here, as are alternations, whose literal
    /// prefix needs the parsed form. Everything else is fully parsed on first use.
    pub fn compile(pattern: &str) -> Result<PathRegex, String> {
        let quick = quick_literal_prefix(pattern);
        let literal_prefix =
            if quick.is_none() || pattern.contains("\\p") || pattern.contains("\\P") {
                let (hir, _) = parse_either(pattern)?;
                quick.unwrap_or_else(|| {
                    Extractor::new()
                        .kind(ExtractKind::Prefix)
                        .extract(&hir)
                        .longest_common_prefix()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_default()
                })
            } else {
                regex_syntax::ast::parse::Parser::new()
                    .parse(pattern)
                    .map_err(|e| e.to_string())?;
                quick.unwrap_or_default()
            };
        Ok(PathRegex {
            pattern: pattern.to_string(),
            regex: OnceLock::new(),
            literal_prefix,
        })
    }

    /// The automaton, built on first use (concurrent first users wait for one build).
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                match parse_either(&self.pattern).and_then(|(hir, _)| build(&hir, true)) {
                    Ok(regex) => Some(regex),
                    Err(error) => {
                        tracing::error!(
                            pattern = %self.pattern,
                            %error,
                            "route path regex could not be built; it will never match"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    fn input<'p>(path: &'p [u8]) -> Input<'p> {
        Input::new(path).anchored(Anchored::Yes)
    }

    /// Whether the regex matches at the start of `path`.
    ///
    /// A regex with groups is checked with a capture-slot search: for an anchored search the
    /// meta engine answers that from its one-pass DFA alone, the same automaton that later
    /// extracts the winner's captures, so a lookup touches one automaton's memory instead of
    /// two (with thousands of regex routes, that memory is usually cold).
    pub fn is_match(&self, path: &[u8]) -> bool {
        let Some(regex) = self.regex() else {
            return false;
        };
        let slot_len = regex.group_info().slot_len();
        let mut slots = [None; 32];
        match slots.get_mut(..slot_len) {
            Some(slots) if slot_len > 2 => regex.search_slots(&Self::input(path), slots).is_some(),
            _ => regex.is_match(Self::input(path)),
        }
    }

    /// The match at the start of `path`, with its groups.
    pub fn captures(&self, path: &[u8]) -> Option<PathMatch> {
        let regex = self.regex()?;
        if regex.group_info().group_len(PatternID::ZERO) <= 1 {
            let end = regex.search(&Self::input(path))?.end();
            return Some(PathMatch {
                end,
                groups: Vec::new(),
            });
        }
        let mut caps: Captures = regex.create_captures();
        regex.search_captures(&Self::input(path), &mut caps);
        let end = caps.get_match()?.end();
        let names = regex.group_info().pattern_names(PatternID::ZERO);
        let groups = names
            .enumerate()
            .skip(1)
            .map(|(i, name)| {
                let value = caps
                    .get_group(i)
                    .and_then(|span| path.get(span.range()))
                    .map_or_else(String::new, |v| String::from_utf8_lossy(v).into_owned());
                (name.map(str::to_string), value)
            })
            .collect();
        Some(PathMatch { end, groups })
    }
}

/// A header value regex (the part after `~*`), matched unanchored against the lower-cased
/// header value, as Kong does.
#[derive(Debug, Clone)]
pub struct HeaderRegex(Regex);

impl HeaderRegex {
    pub fn compile(pattern: &str) -> Result<HeaderRegex, String> {
        Ok(HeaderRegex(build(&parse_either(pattern)?.0, false)?))
    }

    pub fn is_match(&self, value: &[u8]) -> bool {
        self.0.is_match(value)
    }
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
        assert_eq!(compile(r"/status/(re)").literal_prefix, b"/status/");
        assert_eq!(compile(r"/(a|b)c|/ad").literal_prefix, b"/");
        assert_eq!(compile(r"/(a|b)/x").literal_prefix, b"/");
        assert_eq!(compile(r"/[0]?route").literal_prefix, b"/");
        assert_eq!(compile(r"/ab?c").literal_prefix, b"/a");
        assert_eq!(compile(r".*").literal_prefix, b"");
        assert_eq!(compile(r"(?i)/abc").literal_prefix, b"");
        assert_eq!(
            compile(r"/svc-12/items/\d+$").literal_prefix,
            b"/svc-12/items/"
        );
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
        let m = r.captures(b"/b/c").expect("matches");
        assert_eq!(m.end, 2);
    }

    #[test]
    fn captures_groups_in_order_with_names() {
        let r = compile(r"/(people/)?1984/(?<subpath>profile)");
        let m = r.captures(b"/1984/profile/x").expect("matches");
        assert_eq!(m.end, 13);
        assert_eq!(
            m.groups,
            vec![
                (None, String::new()),
                (Some("subpath".to_string()), "profile".to_string())
            ]
        );
        assert!(r.captures(b"/x/1984/profile").is_none());
    }

    // Every match starts with the quick prefix, which is consistent with the extractor's.
    #[test]
    fn quick_literal_prefix_is_sound() {
        let patterns = [
            r"/users/\d+/profile",
            r"/ab?c",
            r"/ab*c",
            r"/ab+c",
            r"/ab{0,2}c",
            r"/a\.b?",
            r"/a\-b/c",
            r"/x(?i)ab",
            r"(?i)/ab",
            r"/é?x",
            r"/a.b",
            r"/a[bc]d",
            r"/a$",
            r"/a\d",
            r"/[0]?route",
            r"/status/(re)",
            r"/a b",
        ];
        let haystacks = [
            "/users/1/profile",
            "/ac",
            "/abc",
            "/abbc",
            "/a.",
            "/a",
            "/a-b/c",
            "/xAB",
            "/AB",
            "/x",
            "/éx",
            "/axb",
            "/abd",
            "/a1",
            "/route",
            "/0route",
            "/status/re",
            "/a b",
        ];
        for p in patterns {
            let quick = quick_literal_prefix(p).expect("no alternation");
            let (hir, _) = parse_either(p).expect("valid");
            let extracted = Extractor::new()
                .kind(ExtractKind::Prefix)
                .extract(&hir)
                .longest_common_prefix()
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            assert!(
                extracted.starts_with(&quick) || quick.starts_with(&extracted),
                "{p}: quick {quick:?} vs extracted {extracted:?}"
            );
            let r = compile(p);
            for h in haystacks {
                if r.is_match(h.as_bytes()) {
                    assert!(
                        h.as_bytes().starts_with(&quick),
                        "{p} matched {h} without {quick:?}"
                    );
                }
            }
        }
        assert_eq!(quick_literal_prefix(r"/a|/b"), None);
        assert_eq!(quick_literal_prefix(r"/ab?c").as_deref(), Some(&b"/a"[..]));
        assert_eq!(
            quick_literal_prefix(r"/a\.b?").as_deref(),
            Some(&b"/a."[..])
        );
    }

    #[test]
    fn rejects_invalid_and_unbalanced_patterns() {
        assert!(PathRegex::compile(r"/a)(b").is_err());
        assert!(PathRegex::compile(r"/(?=x)").is_err());
        assert!(PathRegex::compile(r"/(a)\1").is_err());
        assert!(PathRegex::compile(r"/[").is_err());
        // Translation-level errors are still caught at build time.
        assert!(PathRegex::compile(r"/\p{NotAProperty}").is_err());
        assert!(PathRegex::compile(r"/a|\p{NotAProperty}").is_err());
    }

    #[test]
    fn oversized_regex_is_accepted_but_never_matches() {
        // Valid syntax, but its automaton exceeds the size limit when first used.
        let r = compile(r"/(a{1000}){1000}");
        assert!(!r.is_match(b"/aaaa"));
        assert!(r.captures(b"/aaaa").is_none());
    }

    #[test]
    fn accepts_kong_style_syntax() {
        // Named groups in both spellings [PX/02-router:2561], escaped slashes, byte paths.
        assert!(PathRegex::compile(r"/delay/(?<delay>[^\/]+)$").is_ok());
        assert!(PathRegex::compile(r"/users/(?P<id>\d+)").is_ok());
        assert!(compile(r"/x/.").is_match(b"/x/\xff"));
        // `\d` is ASCII, as in PCRE without UTF mode.
        assert!(!compile(r"/\d").is_match("/١".as_bytes()));
        // Needs Unicode mode: falls back to it.
        assert!(compile(r"/\p{L}+").is_match("/é".as_bytes()));
        // The user-agent pattern of Kong's unit test [U/router:347].
        let ua = HeaderRegex::compile(r"windows|linux|os\s+x\s*[\d\._]+|solaris|bsd")
            .expect("valid header regex");
        assert!(ua.is_match(b"mozilla/5.0 (x11; linux x86_64)"));
        assert!(!ua.is_match(b"curl/8"));
    }
}
