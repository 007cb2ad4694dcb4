//! `multipart/form-data` bodies as Kong's request-transformer edits them (through its
//! `multipart` library): named parts with their header lines kept as received, one
//! index entry per name (the last part of that name), parts set by the plugin carrying
//! only `Content-Disposition: form-data; name="..."`, and the body written back with the
//! request's own boundary.

use std::collections::HashMap;

use memchr::memmem;

/// The `boundary` parameter of a `multipart/form-data` content type (quotes removed).
pub fn boundary(content_type: &str) -> Option<&str> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("boundary=")?;
    // A parameter: after `;` and optional spaces.
    if !lower[..at].trim_end().ends_with(';') {
        return None;
    }
    let value = content_type[at + "boundary=".len()..]
        .split(|c: char| c.is_ascii_whitespace() || c == ';')
        .next()?;
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    (!unquoted.is_empty()).then_some(unquoted)
}

struct Part {
    headers: Vec<Vec<u8>>,
    value: Vec<u8>,
}

/// A parsed body.
pub struct Form {
    parts: Vec<Part>,
    /// Part position by name.
    index: HashMap<String, usize>,
}

/// The `name` parameter of a `Content-Disposition` header line.
fn part_name(line: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(line).ok()?;
    let (header, params) = line.split_once(':')?;
    if !header.trim().eq_ignore_ascii_case("content-disposition") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim().eq_ignore_ascii_case("name").then(|| {
            let value = value.trim();
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value)
                .to_string()
        })
    })
}

/// One line break at the start (`\r\n` or `\n`) removed.
fn trim_leading_break(s: &[u8]) -> &[u8] {
    s.strip_prefix(b"\r\n")
        .or_else(|| s.strip_prefix(b"\n"))
        .unwrap_or(s)
}

/// One line break at the end removed.
fn trim_trailing_break(s: &[u8]) -> &[u8] {
    s.strip_suffix(b"\r\n")
        .or_else(|| s.strip_suffix(b"\n"))
        .unwrap_or(s)
}

impl Form {
    /// Parts between `--boundary` lines; the preamble, the epilogue and parts without a
    /// name are dropped, as Kong's library does.
    pub fn parse(body: &[u8], boundary: &str) -> Form {
        let delimiter = format!("--{boundary}");
        let finder = memmem::Finder::new(delimiter.as_bytes());
        let mut starts = finder.find_iter(body).peekable();
        let mut form = Form {
            parts: Vec::new(),
            index: HashMap::new(),
        };
        while let Some(start) = starts.next() {
            let after = start + delimiter.len();
            let end = starts.peek().copied().unwrap_or(body.len());
            let segment = &body[after..end];
            if segment.starts_with(b"--") {
                break;
            }
            let segment = trim_trailing_break(trim_leading_break(segment));
            let (head, value) = match memmem::find(segment, b"\r\n\r\n") {
                Some(i) => (&segment[..i], &segment[i + 4..]),
                None => match memmem::find(segment, b"\n\n") {
                    Some(i) => (&segment[..i], &segment[i + 2..]),
                    None => (segment, &b""[..]),
                },
            };
            let headers: Vec<Vec<u8>> = head
                .split(|b| *b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
                .filter(|l| !l.is_empty())
                .collect();
            let Some(name) = headers.iter().find_map(|l| part_name(l)) else {
                continue;
            };
            form.index.insert(name, form.parts.len());
            form.parts.push(Part {
                headers,
                value: value.to_vec(),
            });
        }
        form
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.index
            .get(name)
            .map(|i| self.parts[*i].value.as_slice())
    }

    /// Kong's `set_simple`: replaces the named part in place, or appends one.
    pub fn set_simple(&mut self, name: &str, value: Vec<u8>) {
        let part = Part {
            headers: vec![format!("Content-Disposition: form-data; name=\"{name}\"").into_bytes()],
            value,
        };
        match self.index.get(name) {
            Some(i) => self.parts[*i] = part,
            None => {
                self.index.insert(name.to_string(), self.parts.len());
                self.parts.push(part);
            }
        }
    }

    /// Kong's `delete`: removes the indexed part of that name.
    pub fn delete(&mut self, name: &str) {
        let Some(removed) = self.index.remove(name) else {
            return;
        };
        self.parts.remove(removed);
        for i in self.index.values_mut() {
            if *i > removed {
                *i -= 1;
            }
        }
    }

    /// The body with `boundary`; empty without parts.
    pub fn encode(&self, boundary: &str) -> Vec<u8> {
        let mut out = Vec::new();
        if self.parts.is_empty() {
            return out;
        }
        for part in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            for header in &part.headers {
                out.extend_from_slice(header);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&part.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n--XyZ\r\nContent-Type: text/plain\r\n\r\nnameless\r\n--XyZ--\r\nepilogue";

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=XyZ"), Some("XyZ"));
        assert_eq!(
            boundary("multipart/form-data;boundary=\"a b\"; charset=x"),
            Some("\"a")
        );
        assert_eq!(boundary("multipart/form-data; boundary='q'"), Some("q"));
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    #[test]
    fn parts_keep_their_headers_and_values() {
        let form = Form::parse(BODY, "XyZ");
        assert_eq!(form.get("a"), Some(&b"one"[..]));
        assert_eq!(form.get("file"), Some(&b"line 1\r\nline 2"[..]));
        // The nameless part is dropped; the rest is written back as it came.
        assert_eq!(
            form.encode("XyZ"),
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n--XyZ--\r\n"
        );
    }

    #[test]
    fn set_and_delete_follow_kongs_library() {
        let mut form = Form::parse(BODY, "XyZ");
        form.set_simple("a", b"changed".to_vec());
        form.set_simple("new", b"added".to_vec());
        form.delete("file");
        form.delete("absent");
        assert_eq!(
            form.encode("B"),
            b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nchanged\r\n--B\r\nContent-Disposition: form-data; name=\"new\"\r\n\r\nadded\r\n--B--\r\n"
        );
        form.delete("a");
        form.delete("new");
        assert!(form.encode("B").is_empty());
    }

    #[test]
    fn malformed_bodies_give_what_can_be_read() {
        assert!(Form::parse(b"", "B").encode("B").is_empty());
        assert!(Form::parse(b"--B", "B").encode("B").is_empty());
        let form = Form::parse(b"--B\r\nContent-Disposition: form-data; name=x", "B");
        assert_eq!(form.get("x"), Some(&b""[..]));
    }
}
