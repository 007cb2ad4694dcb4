//! Listing arguments (`size`, `offset`, `tags`) with Kong's validation and messages, and the
//! list body `{"data": [...], "offset": "...", "next": "..."}` with Kong's `next` links.

use common::schema::lua_tonumber;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::query::{Query, QueryValue};
use crate::store::{PageOffset, TagFilter};

/// Kong's default and maximum page sizes.
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

/// `ngx.escape_uri`: everything but unreserved characters is escaped.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub fn escape_uri(text: &str) -> String {
    utf8_percent_encode(text, URI_COMPONENT).to_string()
}

/// The parsed listing arguments.
#[derive(Debug, Clone)]
pub struct Paging {
    pub size: usize,
    /// `size` as the client wrote it (carried into top-level `next` links).
    pub size_raw: Option<String>,
    pub offset: Option<PageOffset>,
    pub tags: Option<TagFilter>,
    /// `tags` as the client wrote it (decoded).
    pub tags_raw: Option<String>,
}

/// Reads `size`, `offset` and (when `with_tags`) `tags`, validating as Kong does: the tags
/// filter first, then the size, then the offset.
pub fn paging(query: &Query, with_tags: bool) -> Result<Paging, ApiError> {
    let (tags, tags_raw) = if with_tags {
        tags_filter(query)?
    } else {
        (None, None)
    };
    let (size, size_raw) = match query.first("size") {
        None => (DEFAULT_PAGE_SIZE, None),
        Some(QueryValue::Text(raw)) => (page_size(raw)?, Some(raw.clone())),
        Some(_) => return Err(ApiError::InvalidSize("size must be a number".into())),
    };
    let offset = match query.first("offset") {
        None => None,
        Some(QueryValue::Text(token)) => Some(PageOffset::parse(token)?),
        Some(QueryValue::Flag) => Some(PageOffset::parse("true")?),
        Some(QueryValue::Invalid) => Some(PageOffset::parse("\u{fffd}")?),
    };
    Ok(Paging {
        size,
        size_raw,
        offset,
        tags,
        tags_raw,
    })
}

fn page_size(raw: &str) -> Result<usize, ApiError> {
    let n =
        lua_tonumber(raw).ok_or_else(|| ApiError::InvalidSize("size must be a number".into()))?;
    if n.fract() != 0.0 || n < 1.0 || n > MAX_PAGE_SIZE as f64 {
        return Err(ApiError::InvalidSize(format!(
            "size must be an integer between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(n as usize)
}

fn tags_filter(query: &Query) -> Result<(Option<TagFilter>, Option<String>), ApiError> {
    let invalid = |message: String| ApiError::InvalidOption {
        option: "tags",
        message,
    };
    match query.first("tags") {
        None => Ok((None, None)),
        Some(QueryValue::Text(raw)) => {
            let filter = TagFilter::parse(raw).map_err(|e| invalid(e.to_string()))?;
            Ok((Some(filter), Some(raw.clone())))
        }
        Some(QueryValue::Flag) => Err(invalid("cannot be null".into())),
        Some(QueryValue::Invalid) => Err(invalid("invalid filter syntax".into())),
    }
}

/// The list body. `next` is `null` on the last page, where `offset` is left out.
pub fn page_body(data: Vec<Value>, next: Option<(String, String)>) -> Value {
    match next {
        Some((token, link)) => json!({"data": data, "offset": token, "next": link}),
        None => json!({"data": data, "next": null}),
    }
}

/// A top-level `next` link: `/<path>?offset=<escaped>[&tags=<escaped>][&size=<n>]`.
pub fn top_level_next(path: &str, token: &str, paging: &Paging) -> String {
    let mut link = format!("{path}?offset={}", escape_uri(token));
    if let Some(tags) = &paging.tags_raw {
        link.push_str("&tags=");
        link.push_str(&escape_uri(tags));
    }
    if let Some(size) = &paging.size_raw {
        link.push_str("&size=");
        link.push_str(&escape_uri(size));
    }
    link
}

/// A nested `next` link: `/<parent>/<parent key as in the URL>/<children>?offset=<escaped>`.
pub fn nested_next(prefix: &str, token: &str) -> String {
    format!("{prefix}?offset={}", escape_uri(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str, tags: bool) -> Result<Paging, ApiError> {
        paging(&Query::parse(Some(q)).expect("query"), tags)
    }

    fn message(r: Result<Paging, ApiError>) -> String {
        match r {
            Err(e) => e.render().body["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse("", true).map(|p| p.size).ok(), Some(100));
        assert_eq!(parse("size=3", true).map(|p| p.size).ok(), Some(3));
        assert_eq!(message(parse("size=x", true)), "size must be a number");
        assert_eq!(
            message(parse("size=0", true)),
            "size must be an integer between 1 and 1000"
        );
        assert_eq!(
            message(parse("size=1001", true)),
            "size must be an integer between 1 and 1000"
        );
        assert_eq!(
            message(parse("size=2.5", true)),
            "size must be an integer between 1 and 1000"
        );
    }

    #[test]
    fn offsets_and_tags() {
        assert_eq!(
            message(parse("offset=x", true)),
            "'x' is not a valid offset: bad base64 encoding"
        );
        assert_eq!(
            message(parse("tags=", true)),
            "invalid option (tags: cannot be null)"
        );
        assert_eq!(
            message(parse("tags=a,b/c", true)),
            "invalid option (tags: invalid filter syntax)"
        );
        assert_eq!(
            message(parse("tags=%FF", true)),
            "invalid option (tags: invalid filter syntax)"
        );
        // Ignored where tags do not apply.
        assert!(parse("tags=", false).is_ok());
        // Tags are checked before the size.
        assert_eq!(
            message(parse("size=x&tags=", true)),
            "invalid option (tags: cannot be null)"
        );
    }

    #[test]
    fn next_links() {
        let p = parse("size=3&tags=corp_%20a", true).expect("paging");
        assert_eq!(
            top_level_next("/consumers", "abc-_", &p),
            "/consumers?offset=abc-_&tags=corp_%20a&size=3"
        );
        assert_eq!(
            nested_next("/upstreams/my%20u/targets/all", "t"),
            "/upstreams/my%20u/targets/all?offset=t"
        );
    }
}
