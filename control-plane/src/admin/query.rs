//! Query-string arguments. Unlike bodies, a query argument that is not valid UTF-8 does not
//! fail the request by itself: Kong reports it where the argument is used (an invalid `tags`
//! filter) and ignores it elsewhere.

use super::args::MAX_ARGS;
use super::error::ApiError;

/// One query argument's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryValue {
    /// `?name` without `=` (Lua sees `true`).
    Flag,
    Text(String),
    /// The decoded bytes are not UTF-8.
    Invalid,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, QueryValue)>,
}

fn decode(raw: &[u8]) -> Result<String, ()> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).map_err(|_| ())
}

impl Query {
    /// Parses a raw query string. More than 1000 arguments → 400 `Too many arguments`.
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        let Some(raw) = raw else {
            return Ok(Query { pairs });
        };
        for piece in raw
            .as_bytes()
            .split(|b| *b == b'&')
            .filter(|p| !p.is_empty())
        {
            if pairs.len() == MAX_ARGS {
                return Err(ApiError::BadRequest("Too many arguments".into()));
            }
            let (name, value) = match piece.iter().position(|b| *b == b'=') {
                Some(eq) => (
                    &piece[..eq],
                    match decode(&piece[eq + 1..]) {
                        Ok(text) => QueryValue::Text(text),
                        Err(()) => QueryValue::Invalid,
                    },
                ),
                None => (piece, QueryValue::Flag),
            };
            let Ok(name) = decode(name) else { continue };
            pairs.push((name, value));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&QueryValue> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// How many times `name` is given.
    pub fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(n, _)| n == name).count()
    }

    /// The first value of `name` as text, when it is text.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.first(name) {
            Some(QueryValue::Text(t)) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_flags_and_invalid_bytes() {
        let q = Query::parse(Some("size=3&custom_id&tags=%FF&x=a+b%20c")).expect("parses");
        assert_eq!(q.text("size"), Some("3"));
        assert_eq!(q.first("custom_id"), Some(&QueryValue::Flag));
        assert_eq!(q.first("tags"), Some(&QueryValue::Invalid));
        assert_eq!(q.text("x"), Some("a b c"));
        assert_eq!(q.first("missing"), None);
    }

    #[test]
    fn too_many_arguments() {
        let many = vec!["a=1"; MAX_ARGS + 1].join("&");
        assert!(matches!(
            Query::parse(Some(&many)),
            Err(ApiError::BadRequest(m)) if m == "Too many arguments"
        ));
        let enough = vec!["a=1"; MAX_ARGS].join("&");
        assert!(Query::parse(Some(&enough)).is_ok());
    }
}
