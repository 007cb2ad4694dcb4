//! Which TLS handshakes an mtls-auth instance asks a client certificate on. The route is
//! unknown during the handshake, so, as Kong does, an instance asks on every handshake
//! unless it is scoped to routes that all name SNIs; then only on those SNIs.

use std::collections::HashSet;

use common::model::{Plugin as PluginEntity, Route};
use common::snapshot::ConfigSet;

/// The SNIs of the routes one instance applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniFilter {
    /// Every handshake (a global instance, or a route without SNIs).
    All,
    Names {
        exact: HashSet<String>,
        /// `*.example.com` as `.example.com`.
        suffixes: Vec<String>,
        /// `example.*` as `example.`.
        prefixes: Vec<String>,
    },
}

impl SniFilter {
    /// The filter for `plugin`'s scope in `config`: a service-scoped instance covers the
    /// routes of its service, a route-scoped one its route, anything else every handshake.
    pub fn for_scope(plugin: &PluginEntity, config: &ConfigSet) -> SniFilter {
        let routes: Vec<&Route> = if let Some(service) = plugin.service {
            config
                .routes
                .iter()
                .filter(|r| r.service.is_some_and(|s| s.id == service.id))
                .collect()
        } else if let Some(route) = plugin.route {
            config.routes.iter().filter(|r| r.id == route.id).collect()
        } else {
            return SniFilter::All;
        };
        let mut exact = HashSet::new();
        let mut suffixes = Vec::new();
        let mut prefixes = Vec::new();
        for route in routes {
            let snis = route.snis.as_deref().unwrap_or_default();
            if snis.is_empty() {
                return SniFilter::All;
            }
            for sni in snis {
                let sni = sni.to_ascii_lowercase();
                if let Some(rest) = sni.strip_prefix('*') {
                    suffixes.push(rest.to_string());
                } else if let Some(rest) = sni.strip_suffix('*') {
                    prefixes.push(rest.to_string());
                } else {
                    exact.insert(sni);
                }
            }
        }
        SniFilter::Names {
            exact,
            suffixes,
            prefixes,
        }
    }

    /// Whether a handshake with this SNI (lower-cased; `None`: the client sent none)
    /// is one to ask a certificate on.
    pub fn matches(&self, sni: Option<&str>) -> bool {
        match self {
            SniFilter::All => true,
            SniFilter::Names {
                exact,
                suffixes,
                prefixes,
            } => sni.is_some_and(|sni| {
                exact.contains(sni)
                    || suffixes.iter().any(|s| sni.ends_with(s.as_str()))
                    || prefixes.iter().any(|p| sni.starts_with(p.as_str()))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> SniFilter {
        let mut route = route();
        route.snis = Some(list.iter().map(|s| s.to_string()).collect());
        let mut plugin = plugin();
        plugin.route = Some(common::model::ForeignRef { id: route.id });
        SniFilter::for_scope(
            &plugin,
            &ConfigSet {
                routes: vec![route],
                ..Default::default()
            },
        )
    }

    fn route() -> Route {
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::new_v4(), "protocols": ["https"], "paths": ["/"],
            "https_redirect_status_code": 426, "regex_priority": 0, "strip_path": true,
            "path_handling": "v0", "preserve_host": false, "request_buffering": true,
            "response_buffering": true,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn plugin() -> PluginEntity {
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::new_v4(), "name": "mtls-auth", "config": {},
            "protocols": ["https"], "enabled": true,
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn route_snis_limit_the_handshakes() {
        let filter = names(&["a.test", "*.wild.test", "pre.*"]);
        assert!(filter.matches(Some("a.test")));
        assert!(filter.matches(Some("x.wild.test")));
        assert!(filter.matches(Some("pre.example")));
        assert!(!filter.matches(Some("b.test")));
        assert!(!filter.matches(None));
        assert_eq!(names(&[]), SniFilter::All);
        assert_eq!(
            SniFilter::for_scope(&plugin(), &ConfigSet::default()),
            SniFilter::All
        );
    }
}
