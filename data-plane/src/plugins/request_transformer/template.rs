//! request-transformer's value templates: `$(...)` placeholders over the request's
//! `headers`, `query_params`, `uri_captures` and `shared`, as Kong renders them with its
//! sandboxed Lua. Supported expressions: `table.name`, `table["name"]`, `table[1]`
//! (`uri_captures`), string literals, and `a or b`. Anything else is refused when the
//! configuration is compiled, rather than rendered differently from Kong.

/// A parsed value: literal text and placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    /// Alternatives of an `or` chain.
    Expr(Vec<Operand>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Literal(String),
    Lookup { table: Table, key: String },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Table {
    Headers,
    QueryParams,
    UriCaptures,
}

/// What templates read from the request.
pub trait Env {
    fn header(&self, name: &str) -> Option<String>;
    fn query_param(&self, name: &str) -> Option<String>;
    fn uri_capture(&self, name: &str) -> Option<String>;
}

fn parse_operand(text: &str) -> Result<Operand, String> {
    let text = text.trim();
    if let Some(s) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
    {
        return Ok(Operand::Literal(s.to_string()));
    }
    let (name, rest) = match text.find(['.', '[']) {
        Some(i) => text.split_at(i),
        None => return Err(format!("unsupported template expression '{text}'")),
    };
    let table = match name {
        "headers" => Table::Headers,
        "query_params" => Table::QueryParams,
        "uri_captures" => Table::UriCaptures,
        _ => return Err(format!("unsupported template expression '{text}'")),
    };
    let key = if let Some(field) = rest.strip_prefix('.') {
        if field.is_empty()
            || !field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!("unsupported template expression '{text}'"));
        }
        field.to_string()
    } else {
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| format!("unsupported template expression '{text}'"))?
            .trim();
        if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            inner.to_string()
        } else {
            match parse_operand(inner)? {
                Operand::Literal(s) => s,
                Operand::Lookup { .. } => {
                    return Err(format!("unsupported template expression '{text}'"));
                }
            }
        }
    };
    Ok(Operand::Lookup { table, key })
}

fn parse_expr(text: &str) -> Result<Vec<Operand>, String> {
    text.split(" or ")
        .map(|part| {
            let part = part.trim();
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Operand::Literal(part.to_string()))
            } else {
                parse_operand(part)
            }
        })
        .collect()
}

impl Template {
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("$(") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let mut depth = 1;
            let mut end = None;
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| format!("unfinished template expression in '{source}'"))?;
            pieces.push(Piece::Expr(parse_expr(&after[..end])?));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template(pieces))
    }

    pub fn render(&self, env: &dyn Env) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(alternatives) => {
                    let value = alternatives.iter().find_map(|op| match op {
                        Operand::Literal(s) => Some(s.clone()),
                        Operand::Lookup { table, key } => match table {
                            Table::Headers => env.header(key),
                            Table::QueryParams => env.query_param(key),
                            Table::UriCaptures => env.uri_capture(key),
                        },
                    });
                    out.push_str(&value.unwrap_or_default());
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Fixed;
    impl Env for Fixed {
        fn header(&self, name: &str) -> Option<String> {
            (name == "x-user").then(|| "ann".into())
        }
        fn query_param(&self, name: &str) -> Option<String> {
            (name == "q").then(|| "1".into())
        }
        fn uri_capture(&self, name: &str) -> Option<String> {
            (name == "id" || name == "1").then(|| "42".into())
        }
    }

    #[test]
    fn templates_render_request_values() {
        let t = Template::parse(
            "user $(headers[\"x-user\"]) q=$(query_params.q) id=$(uri_captures.id)",
        )
        .unwrap();
        assert_eq!(t.render(&Fixed), "user ann q=1 id=42");
        let t = Template::parse("$(headers.missing or 'none')/$(uri_captures[1])").unwrap();
        assert_eq!(t.render(&Fixed), "none/42");
        assert!(Template::parse("$(os.exit())").is_err());
        assert!(Template::parse("$(headers.x").is_err());
    }
}
