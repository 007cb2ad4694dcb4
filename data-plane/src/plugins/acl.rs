//! acl (Kong's `kong/plugins/acl/handler.lua`, PRIORITY 950): allow or deny the
//! authenticated consumer by its ACL groups (or by groups another plugin authenticated,
//! `kong.ctx.shared.authenticated_groups`, here [`AuthenticatedGroups`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use uuid::Uuid;

use super::{Exit, Flow, InstanceCx, Kong, Plugin};

#[derive(Debug, Deserialize)]
struct Config {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
}

/// Groups an authentication plugin established without a consumer (Kong's
/// `authenticated_groups`); put it in [`Kong::shared`].
#[derive(Debug, Clone)]
pub struct AuthenticatedGroups(pub Vec<String>);

pub struct Acl {
    deny: bool,
    groups: Vec<String>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
    consumer_groups: Arc<HashMap<Uuid, Vec<String>>>,
}

pub fn factory(cx: &InstanceCx<'_>) -> Result<Arc<dyn Plugin>, String> {
    let config: Config = cx.config()?;
    let deny_list = config.deny.filter(|d| !d.is_empty());
    let (deny, groups) = match deny_list {
        Some(d) => (true, d),
        None => (false, config.allow.unwrap_or_default()),
    };
    Ok(Arc::new(Acl {
        deny,
        groups,
        hide_groups_header: config.hide_groups_header,
        always_use_authenticated_groups: config.always_use_authenticated_groups,
        consumer_groups: cx.credentials.acls(),
    }))
}

fn forbidden() -> Flow {
    Flow::Exit(Exit::error(403, "You cannot consume this service"))
}

impl Acl {
    /// `None`: allowed, with the header value; `Some`: blocked.
    fn decide(&self, groups: &[String]) -> Result<String, ()> {
        let in_group = self.groups.iter().any(|g| groups.contains(g));
        let blocked = if self.deny { in_group } else { !in_group };
        if blocked {
            Err(())
        } else {
            Ok(groups.join(", "))
        }
    }
}

#[async_trait]
impl Plugin for Acl {
    async fn access(&self, kong: &mut Kong<'_>) -> Flow {
        let has_credential = kong.client().credential().is_some();
        let consumer_id = kong
            .client()
            .consumer()
            .map(|c| c.id)
            .or_else(|| kong.client().credential().and_then(|c| c.consumer_id));
        let authenticated = kong.shared().get::<AuthenticatedGroups>().cloned();
        let unauthenticated = || {
            if has_credential {
                forbidden()
            } else {
                Flow::Exit(Exit::error(401, "Unauthorized"))
            }
        };
        let use_authenticated =
            consumer_id.is_none() || !has_credential || self.always_use_authenticated_groups;
        let (decision, header) = match (consumer_id, authenticated) {
            (_, Some(AuthenticatedGroups(groups))) if use_authenticated => {
                (self.decide(&groups), "x-authenticated-groups")
            }
            (None, _) => return unauthenticated(),
            (Some(id), _) => match self.consumer_groups.get(&id) {
                Some(groups) => (self.decide(groups), "x-consumer-groups"),
                None if self.deny => (self.decide(&[]), "x-consumer-groups"),
                None => return unauthenticated(),
            },
        };
        let Ok(value) = decision else {
            return forbidden();
        };
        if !self.hide_groups_header {
            let _ = kong.service_request().set_header(header, &value);
        }
        Flow::Continue
    }

    fn reads_request_after_access(&self) -> bool {
        false
    }
}
