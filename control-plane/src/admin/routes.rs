//! The routing table: every Admin API path template, which endpoint serves it and with which
//! methods. Entity routes are generated from `EntityKind` the way Kong generates them from
//! its schemas (`kong/api/endpoints.lua`): a collection, an entity, and for each foreign key
//! the foreign-entity endpoint (`/routes/{routes}/service`) and the nested collection and
//! entity (`/services/{services}/routes[/{routes}]`).
//!
//! Matching is done here rather than by axum's router so that the table is data: `GET
//! /endpoints` lists it, `OPTIONS` answers its methods, 404 and 405 follow Kong, and path
//! segments are percent-decoded the way Kong decodes them (`+` is a space, invalid UTF-8 is
//! reported by the handler that owns the segment).

use std::sync::Arc;

use axum::http::Method;
use common::model::EntityKind;
use futures_util::future::BoxFuture;

use super::context::Ctx;
use super::error::ApiError;
use super::reply::Reply;

/// A handler added from outside this module (the cluster endpoints).
pub type CustomHandler =
    Arc<dyn Fn(Ctx) -> BoxFuture<'static, Result<Reply, ApiError>> + Send + Sync>;

/// What a matched route does.
#[derive(Clone)]
pub enum Endpoint {
    Root,
    Status,
    Endpoints,
    PluginsEnabled,
    /// `/schemas/{name}`
    EntitySchema,
    /// `/schemas/{db_entity_name}/validate` and `/schemas/plugins/validate`
    ValidateEntity,
    /// `/schemas/plugins/{name}`
    PluginSchema,
    Tags,
    /// `/tags/{tags}`
    TagsByTag,
    /// `/services`
    Collection(EntityKind),
    /// `/services/{services}`
    Entity(EntityKind),
    /// `/routes/{routes}/service`: the entity `field` of a `kind` entity points to.
    ForeignEntity {
        kind: EntityKind,
        field: &'static str,
        target: EntityKind,
    },
    /// `/services/{services}/routes`: children of `parent` through the child's `field`.
    NestedCollection {
        parent: EntityKind,
        child: EntityKind,
        field: &'static str,
    },
    /// `/services/{services}/routes/{routes}`
    NestedEntity {
        parent: EntityKind,
        child: EntityKind,
        field: &'static str,
    },
    /// `/upstreams/{upstreams}/targets` (and `/targets/all`, which never filters).
    Targets {
        all: bool,
    },
    /// `/upstreams/{upstreams}/targets/{targets}`
    Target,
    /// `/upstreams/{upstreams}/health`
    UpstreamHealth,
    Custom(CustomHandler),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Custom(_) => f.write_str("Custom"),
            Endpoint::Collection(k) => write!(f, "Collection({})", k.name()),
            Endpoint::Entity(k) => write!(f, "Entity({})", k.name()),
            other => f.write_str(match other {
                Endpoint::Root => "Root",
                Endpoint::Status => "Status",
                Endpoint::Endpoints => "Endpoints",
                Endpoint::PluginsEnabled => "PluginsEnabled",
                Endpoint::EntitySchema => "EntitySchema",
                Endpoint::ValidateEntity => "ValidateEntity",
                Endpoint::PluginSchema => "PluginSchema",
                Endpoint::Tags => "Tags",
                Endpoint::TagsByTag => "TagsByTag",
                Endpoint::ForeignEntity { .. } => "ForeignEntity",
                Endpoint::NestedCollection { .. } => "NestedCollection",
                Endpoint::NestedEntity { .. } => "NestedEntity",
                Endpoint::Targets { .. } => "Targets",
                Endpoint::Target => "Target",
                Endpoint::UpstreamHealth => "UpstreamHealth",
                _ => "?",
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One path template and what serves it.
#[derive(Debug, Clone)]
pub struct Route {
    /// Kong's spelling, e.g. `/services/{services}/routes` (listed by `/endpoints`).
    pub template: String,
    segments: Vec<Segment>,
    pub methods: Vec<Method>,
    pub endpoint: Endpoint,
}

/// A path parameter as it appeared in the URL and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The template's name for it (`services`, `keyauth_credentials`, `tags`).
    pub name: String,
    /// As written in the URL (Kong builds nested `next` links from it).
    pub raw: String,
    /// Percent-decoded (`+` as a space); `Err` holds the 1-based position of the first
    /// invalid UTF-8 byte.
    pub value: Result<String, usize>,
}

/// A request path matched against the table.
pub struct Matched<'t> {
    pub route: &'t Route,
    pub params: Vec<Param>,
}

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const PATCH: Method = Method::PATCH;
const DELETE: Method = Method::DELETE;

/// The segment naming the kind's collection, e.g. `/key-auths` (Kong's `admin_api_name`).
pub fn collection_segment(kind: EntityKind) -> &'static str {
    kind.admin_collection()
}

/// The segment under a parent (`/consumers/{c}/key-auth`, Kong's `admin_api_nested_name`).
pub fn nested_segment(kind: EntityKind) -> &'static str {
    kind.consumer_nested_segment()
        .unwrap_or_else(|| kind.admin_collection())
}

/// Routes Kong disables (`endpoints.disable`): they answer 404 and are not listed here.
fn disabled(template: &str) -> bool {
    matches!(
        template,
        "/targets"
            | "/targets/{targets}"
            | "/targets/{targets}/upstream"
            | "/snis/{snis}/certificate"
    )
}

/// The routing table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Every built-in route.
    pub fn standard() -> RouteTable {
        let mut t = RouteTable::default();
        t.add("/", &[GET], Endpoint::Root);
        t.add("/status", &[GET], Endpoint::Status);
        t.add("/endpoints", &[GET], Endpoint::Endpoints);
        t.add("/plugins/enabled", &[GET], Endpoint::PluginsEnabled);
        t.add("/schemas/{name}", &[GET], Endpoint::EntitySchema);
        t.add("/schemas/plugins/{name}", &[GET], Endpoint::PluginSchema);
        t.add(
            "/schemas/plugins/validate",
            &[POST],
            Endpoint::ValidateEntity,
        );
        t.add(
            "/schemas/{db_entity_name}/validate",
            &[POST],
            Endpoint::ValidateEntity,
        );
        t.add("/tags", &[GET], Endpoint::Tags);
        t.add("/tags/{tags}", &[GET], Endpoint::TagsByTag);

        for kind in EntityKind::ALL {
            let coll = collection_segment(kind);
            let param = kind.name();
            t.add(
                &format!("/{coll}"),
                &[GET, POST],
                Endpoint::Collection(kind),
            );
            t.add(
                &format!("/{coll}/{{{param}}}"),
                &[GET, PUT, PATCH, DELETE],
                Endpoint::Entity(kind),
            );
            for fk in kind.foreign_keys() {
                let parent = fk.references;
                t.add(
                    &format!("/{coll}/{{{param}}}/{}", fk.field),
                    &[GET, PUT, PATCH, DELETE],
                    Endpoint::ForeignEntity {
                        kind,
                        field: fk.field,
                        target: parent,
                    },
                );
                if kind == EntityKind::Target {
                    continue; // targets have hand-written nested routes below
                }
                let nested = format!(
                    "/{}/{{{}}}/{}",
                    collection_segment(parent),
                    parent.name(),
                    nested_segment(kind)
                );
                t.add(
                    &nested,
                    &[GET, POST],
                    Endpoint::NestedCollection {
                        parent,
                        child: kind,
                        field: fk.field,
                    },
                );
                t.add(
                    &format!("{nested}/{{{param}}}"),
                    &[GET, PUT, PATCH, DELETE],
                    Endpoint::NestedEntity {
                        parent,
                        child: kind,
                        field: fk.field,
                    },
                );
            }
        }

        t.add(
            "/upstreams/{upstreams}/targets",
            &[GET, POST],
            Endpoint::Targets { all: false },
        );
        t.add(
            "/upstreams/{upstreams}/targets/all",
            &[GET],
            Endpoint::Targets { all: true },
        );
        t.add(
            "/upstreams/{upstreams}/targets/{targets}",
            &[GET, PUT, PATCH, DELETE],
            Endpoint::Target,
        );
        t.add(
            "/upstreams/{upstreams}/health",
            &[GET],
            Endpoint::UpstreamHealth,
        );
        t
    }

    /// Adds (or replaces) the route for `template`.
    pub fn add(&mut self, template: &str, methods: &[Method], endpoint: Endpoint) {
        if disabled(template) {
            return;
        }
        let segments = parse_template(template);
        self.routes.retain(|r| r.template != template);
        self.routes.push(Route {
            template: template.to_owned(),
            segments,
            methods: methods.to_vec(),
            endpoint,
        });
    }

    /// The route serving `path` (without query), preferring literal segments over parameters
    /// from left to right (so `/plugins/enabled` beats `/plugins/{plugins}`). A trailing
    /// slash is ignored, as Kong's default route retries without it.
    pub fn find(&self, path: &str) -> Option<Matched<'_>> {
        let trimmed = match path.strip_suffix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => path,
        };
        let raw: Vec<&str> = if trimmed == "/" || trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.strip_prefix('/')?.split('/').collect()
        };
        let mut best: Option<(&Route, Vec<bool>)> = None;
        for route in &self.routes {
            if route.segments.len() != raw.len() {
                continue;
            }
            let mut shape = Vec::with_capacity(raw.len());
            let fits = route.segments.iter().zip(&raw).all(|(seg, raw)| match seg {
                Segment::Literal(lit) => {
                    shape.push(true);
                    decode_segment(raw).as_deref() == Ok(lit.as_str())
                }
                Segment::Param(_) => {
                    shape.push(false);
                    !raw.is_empty()
                }
            });
            if fits && best.as_ref().is_none_or(|(_, s)| shape > *s) {
                best = Some((route, shape));
            }
        }
        let (route, _) = best?;
        let params = route
            .segments
            .iter()
            .zip(&raw)
            .filter_map(|(seg, raw)| match seg {
                Segment::Param(name) => Some(Param {
                    name: name.clone(),
                    raw: (*raw).to_owned(),
                    value: decode_segment(raw),
                }),
                Segment::Literal(_) => None,
            })
            .collect();
        Some(Matched { route, params })
    }

    /// Templates sorted as Kong's `/endpoints` sorts them (segment by segment).
    pub fn templates(&self) -> Vec<String> {
        let mut out: Vec<String> = self.routes.iter().map(|r| r.template.clone()).collect();
        out.sort_by_key(|a| a.replace('/', "\u{0}"));
        out.dedup();
        out
    }
}

fn parse_template(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(s.to_owned()),
            },
        )
        .collect()
}

/// Percent-decodes a path segment as `ngx.unescape_uri` does (`+` becomes a space).
/// `Err(position)`: the decoded bytes are not UTF-8; the 1-based position of the first bad
/// byte (Kong's `invalid utf-8 character sequence detected at position N`).
pub fn decode_segment(raw: &str) -> Result<String, usize> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|e| e.utf8_error().valid_up_to() + 1)
}

/// The `Allow` header value for a route: its methods plus HEAD (with GET) and OPTIONS,
/// sorted as Kong sorts them.
pub fn allow_header(route: &Route) -> String {
    let mut names: Vec<&str> = route.methods.iter().map(Method::as_str).collect();
    if route.methods.contains(&Method::GET) {
        names.push("HEAD");
    }
    names.push("OPTIONS");
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_of(t: &RouteTable, path: &str) -> Option<String> {
        t.find(path).map(|m| m.route.template.clone())
    }

    #[test]
    fn literals_win_over_parameters() {
        let t = RouteTable::standard();
        assert_eq!(
            endpoint_of(&t, "/plugins/enabled").as_deref(),
            Some("/plugins/enabled")
        );
        assert_eq!(
            endpoint_of(&t, "/plugins/abc").as_deref(),
            Some("/plugins/{plugins}")
        );
        assert_eq!(
            endpoint_of(&t, "/schemas/plugins/validate").as_deref(),
            Some("/schemas/plugins/validate")
        );
        assert_eq!(
            endpoint_of(&t, "/schemas/plugins/key-auth").as_deref(),
            Some("/schemas/plugins/{name}")
        );
        assert_eq!(
            endpoint_of(&t, "/schemas/services/validate").as_deref(),
            Some("/schemas/{db_entity_name}/validate")
        );
        assert_eq!(
            endpoint_of(&t, "/upstreams/u/targets/all").as_deref(),
            Some("/upstreams/{upstreams}/targets/all")
        );
    }

    #[test]
    fn trailing_slashes_and_unknown_paths() {
        let t = RouteTable::standard();
        assert_eq!(
            endpoint_of(&t, "/upstreams/u/targets/").as_deref(),
            Some("/upstreams/{upstreams}/targets")
        );
        assert_eq!(endpoint_of(&t, "/").as_deref(), Some("/"));
        assert!(t.find("/non-existing").is_none());
        assert!(t.find("/targets").is_none());
        assert!(t.find("/services//routes").is_none());
    }

    #[test]
    fn parameters_are_decoded_like_ngx() {
        let t = RouteTable::standard();
        let m = t.find("/services/%E5%86%86").expect("match");
        assert_eq!(m.params[0].value.as_deref(), Ok("円"));
        assert_eq!(m.params[0].raw, "%E5%86%86");
        let m = t.find("/consumers/abc+def%201").expect("match");
        assert_eq!(m.params[0].value.as_deref(), Ok("abc def 1"));
        let m = t.find("/tags/a%FFb").expect("match");
        assert_eq!(m.params[0].value, Err(2));
    }

    #[test]
    fn kongs_generated_routes_exist() {
        let t = RouteTable::standard();
        let all = t.templates();
        for expected in [
            "/basic-auths/{basicauth_credentials}",
            "/consumers/{consumers}/key-auth/{keyauth_credentials}",
            "/routes/{routes}/service",
            "/services/{services}/routes/{routes}",
            "/certificates/{certificates}/snis",
            "/plugins",
        ] {
            assert!(all.iter().any(|e| e == expected), "{expected} missing");
        }
        assert!(!all.iter().any(|e| e.contains("healthy")));
        let pos = |p: &str| all.iter().position(|e| e == p);
        assert!(pos("/acls") < pos("/acls/{acls}"));
        assert!(pos("/acls/{acls}/consumer") < pos("/basic-auths"));
    }

    #[test]
    fn allow_lists_are_sorted() {
        let t = RouteTable::standard();
        let m = t.find("/routes").expect("match");
        assert_eq!(allow_header(m.route), "GET, HEAD, OPTIONS, POST");
        let m = t.find("/routes/x").expect("match");
        assert_eq!(
            allow_header(m.route),
            "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"
        );
    }
}
