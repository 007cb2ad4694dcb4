//! A matcher for Lua 5.1 string patterns (`string.match` semantics, captures ignored).
//!
//! Kong's schemas express `match`, `match_none`, `match_any` and `match_all` validators as
//! Lua patterns, and `/schemas` shows them verbatim. Keeping the patterns in Lua syntax (and
//! matching them with the same algorithm as Lua's `lstrlib.c`) means a schema here can be
//! compared with Kong's line by line and renders exactly like Kong's.
//!
//! Supported: `.`, `%a %c %d %l %p %s %u %w %x %z` and their negations, `%` escapes, sets
//! `[...]`/`[^...]` with ranges, quantifiers `* + - ?`, anchors `^`/`$`, `%b()`, `%f[set]`,
//! and (ignored) captures. Back-references (`%1`) never match. Matching works on bytes and
//! classifies only ASCII, like Lua in the C locale.

/// Whether `pattern` matches anywhere in `subject` (Lua `subject:match(pattern) ~= nil`).
pub fn is_match(subject: &str, pattern: &str) -> bool {
    let s = subject.as_bytes();
    let p = pattern.as_bytes();
    let (anchored, p_start) = match p.first() {
        Some(b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut start = 0;
    loop {
        if (Matcher { s, p, depth: 0 })
            .do_match(start, p_start)
            .is_some()
        {
            return true;
        }
        start += 1;
        if anchored || start > s.len() {
            return false;
        }
    }
}

/// Recursion limit, as Lua's MAXCCALLS: a pathological pattern fails instead of overflowing.
const MAX_DEPTH: usize = 200;

struct Matcher<'a> {
    s: &'a [u8],
    p: &'a [u8],
    depth: usize,
}

impl Matcher<'_> {
    fn do_match(&mut self, si: usize, pi: usize) -> Option<usize> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH {
            None
        } else {
            self.match_here(si, pi)
        };
        self.depth -= 1;
        result
    }

    fn match_here(&mut self, si: usize, pi: usize) -> Option<usize> {
        let p = self.p;
        if pi >= p.len() {
            return Some(si);
        }
        match p[pi] {
            b'(' => {
                // Position captures `()` and ordinary captures match nothing themselves.
                if p.get(pi + 1) == Some(&b')') {
                    self.do_match(si, pi + 2)
                } else {
                    self.do_match(si, pi + 1)
                }
            }
            b')' => self.do_match(si, pi + 1),
            b'$' if pi + 1 == p.len() => (si == self.s.len()).then_some(si),
            b'%' if p.get(pi + 1) == Some(&b'b') => self.match_balance(si, pi + 2),
            b'%' if p.get(pi + 1) == Some(&b'f') => self.match_frontier(si, pi + 2),
            b'%' if p.get(pi + 1).is_some_and(u8::is_ascii_digit) => None,
            _ => self.match_default(si, pi),
        }
    }

    fn match_default(&mut self, si: usize, pi: usize) -> Option<usize> {
        let ep = self.class_end(pi)?;
        let matched = si < self.s.len() && self.single_match(self.s[si], pi, ep);
        match self.p.get(ep) {
            Some(b'?') => {
                if matched && let Some(end) = self.do_match(si + 1, ep + 1) {
                    return Some(end);
                }
                self.do_match(si, ep + 1)
            }
            Some(b'*') => self.max_expand(si, pi, ep),
            Some(b'+') => {
                if matched {
                    self.max_expand(si + 1, pi, ep)
                } else {
                    None
                }
            }
            Some(b'-') => self.min_expand(si, pi, ep),
            _ => {
                if matched {
                    self.do_match(si + 1, ep)
                } else {
                    None
                }
            }
        }
    }

    fn max_expand(&mut self, si: usize, pi: usize, ep: usize) -> Option<usize> {
        let mut count = 0;
        while si + count < self.s.len() && self.single_match(self.s[si + count], pi, ep) {
            count += 1;
        }
        loop {
            if let Some(end) = self.do_match(si + count, ep + 1) {
                return Some(end);
            }
            if count == 0 {
                return None;
            }
            count -= 1;
        }
    }

    fn min_expand(&mut self, mut si: usize, pi: usize, ep: usize) -> Option<usize> {
        loop {
            if let Some(end) = self.do_match(si, ep + 1) {
                return Some(end);
            }
            if si < self.s.len() && self.single_match(self.s[si], pi, ep) {
                si += 1;
            } else {
                return None;
            }
        }
    }

    fn match_balance(&mut self, si: usize, pi: usize) -> Option<usize> {
        let (open, close) = (*self.p.get(pi)?, *self.p.get(pi + 1)?);
        if si >= self.s.len() || self.s[si] != open {
            return None;
        }
        let mut level = 1;
        let mut i = si + 1;
        while i < self.s.len() {
            let c = self.s[i];
            if c == close {
                level -= 1;
                if level == 0 {
                    return self.do_match(i + 1, pi + 2);
                }
            } else if c == open {
                level += 1;
            }
            i += 1;
        }
        None
    }

    fn match_frontier(&mut self, si: usize, pi: usize) -> Option<usize> {
        if self.p.get(pi) != Some(&b'[') {
            return None;
        }
        let ep = self.class_end(pi)?;
        let prev = if si == 0 { 0 } else { self.s[si - 1] };
        let cur = self.s.get(si).copied().unwrap_or(0);
        if !self.bracket_match(prev, pi, ep - 1) && self.bracket_match(cur, pi, ep - 1) {
            self.do_match(si, ep)
        } else {
            None
        }
    }

    /// Index just past the single-character class starting at `pi`.
    fn class_end(&self, pi: usize) -> Option<usize> {
        let p = self.p;
        match p[pi] {
            b'%' => (pi + 1 < p.len()).then_some(pi + 2),
            b'[' => {
                let mut i = pi + 1;
                if p.get(i) == Some(&b'^') {
                    i += 1;
                }
                // The first character after `[` (or `[^`) is part of the set even if `]`.
                loop {
                    let c = *p.get(i)?;
                    i += 1;
                    if c == b'%' {
                        i += 1;
                    }
                    if p.get(i) == Some(&b']') {
                        return Some(i + 1);
                    }
                    if i >= p.len() {
                        return None;
                    }
                }
            }
            _ => Some(pi + 1),
        }
    }

    fn single_match(&self, c: u8, pi: usize, ep: usize) -> bool {
        match self.p[pi] {
            b'.' => true,
            b'%' => match_class(c, self.p[pi + 1]),
            b'[' => self.bracket_match(c, pi, ep - 1),
            literal => literal == c,
        }
    }

    /// `pi` is the `[`, `close` the index of the closing `]`.
    fn bracket_match(&self, c: u8, pi: usize, close: usize) -> bool {
        let p = self.p;
        let mut i = pi + 1;
        let mut negated = false;
        if p.get(i) == Some(&b'^') {
            negated = true;
            i += 1;
        }
        while i < close {
            if p[i] == b'%' && i + 1 < close {
                i += 1;
                if match_class(c, p[i]) {
                    return !negated;
                }
            } else if p.get(i + 1) == Some(&b'-') && i + 2 < close {
                if p[i] <= c && c <= p[i + 2] {
                    return !negated;
                }
                i += 2;
            } else if p[i] == c {
                return !negated;
            }
            i += 1;
        }
        negated
    }
}

fn match_class(c: u8, class: u8) -> bool {
    let result = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => c.is_ascii_whitespace() || c == 0x0b,
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !result
    } else {
        result
    }
}

#[cfg(test)]
mod tests {
    use super::is_match;

    #[test]
    fn patterns_used_by_kong_schemas() {
        let cases: &[(&str, &str, bool)] = &[
            ("GET", "^%u+$", true),
            ("get", "^%u+$", false),
            ("", "^%u+$", false),
            ("*.example.com", "^[^*]*%*?[^*]*$", true),
            ("*.ex*ample.com", "^[^*]*%*?[^*]*$", false),
            ("*.example.com", "^%*%.", true),
            ("example.*", "%.%*$", true),
            ("exa*mple.com", "^[^*]*$", false),
            ("/a//b", "//", true),
            ("/a/b", "//", false),
            ("Host", "^[Hh][Oo][Ss][Tt]$", true),
            ("X-Host", "^[Hh][Oo][Ss][Tt]$", false),
            ("~/foo", "^~/", true),
            ("1.2.3", "^%d+[%.%d]*$", true),
            ("1..2", "%.%.", true),
            ("header", "^header$", true),
            ("headers", "^header$", false),
            ("abc", "^%w+$", true),
            ("a-b", "^[%w%-]+$", true),
            ("a]b", "^[]a-z]+$", true),
            ("f(a(b)c)x", "%b()x$", true),
            ("THE (quick) fox", "%f[%a]%a+", true),
            ("aaab", "^a-b$", true),
            ("ab", "^a?b$", true),
            ("b", "^a?b$", true),
            ("aab", "^a?b$", false),
            ("x", "(x)", true),
            ("a.b", "^a%.b$", true),
            ("axb", "^a%.b$", false),
            ("abc", "b", true),
            ("abc", "c$", true),
            ("abc", "a$", false),
        ];
        for (subject, pattern, expected) in cases {
            assert_eq!(
                is_match(subject, pattern),
                *expected,
                "{subject:?} against {pattern:?}"
            );
        }
    }

    #[test]
    fn malformed_patterns_do_not_match_or_panic() {
        assert!(!is_match("abc", "[abc"));
        assert!(!is_match("abc", "%"));
        assert!(!is_match("abc", "%1"));
    }
}
