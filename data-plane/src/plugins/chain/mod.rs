//! The compiled plugin chain of one runtime, and how a request walks it (Kong's
//! `kong/runloop/plugins_iterator.lua`).
//!
//! Compilation (once per snapshot): every enabled plugin entity of the HTTP subsystem is
//! handed to its registered factory; instances are grouped per plugin name, plugins are
//! ordered by `PRIORITY` (highest first; ties by name), and each instance is filed under
//! its scope (route, service, consumer). Global instances also serve the `certificate`
//! and `rewrite` phases.
//!
//! Per request, in `access`, the chain is walked in priority order and each plugin's
//! instance is chosen with Kong's precedence for the request's route, service and the
//! consumer known *at that point* (so an authentication plugin that runs earlier selects
//! the consumer-scoped instances of the plugins after it):
//! consumer+route+service, consumer+route, consumer+service, route+service, consumer,
//! route, service, global. The chosen instances are collected for `header_filter`,
//! `body_filter` and `log`; when `access` was never reached (no route, a `rewrite` exit),
//! those phases run the global instances.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use common::model::Plugin as PluginEntity;
use common::snapshot::ConfigSet;
use foldhash::HashMap as FastMap;
use uuid::Uuid;

use super::compile_cx::InstanceCx;
use super::credentials::CredentialIndexes;
use super::pdk::certificate::{CertificatePhase, TlsDecisions};
use super::pdk::{Kong, Phase, RequestBody, RequestSide};
use super::registry::PluginRegistry;
use super::state::NodeState;
use super::{Flow, Plugin};
use crate::balancer::Dns;
use crate::proxy::context::RequestContext;
use crate::runtime::Runtime;
use crate::status::metrics::Metrics;

/// One compiled plugin entity.
pub struct Instance {
    pub id: Uuid,
    pub name: &'static str,
    pub handler: Arc<dyn Plugin>,
}

/// An instance chosen for a request: indexes into the chain of the request's runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceRef {
    entry: u32,
    instance: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Scope {
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
}

/// Bit of a scope combination (route, service, consumer present), so lookups skip
/// combinations nobody configured.
const fn combo_bit(route: bool, service: bool, consumer: bool) -> u8 {
    1 << ((route as u8) | ((service as u8) << 1) | ((consumer as u8) << 2))
}

impl Scope {
    fn bit(&self) -> u8 {
        combo_bit(
            self.route.is_some(),
            self.service.is_some(),
            self.consumer.is_some(),
        )
    }
}

/// Every instance of one plugin name.
struct Entry {
    name: &'static str,
    priority: i32,
    instances: Vec<Instance>,
    /// foldhash: looked up per request and plugin, keyed by configuration ids.
    by_scope: FastMap<Scope, u32>,
    /// Bit set of the scope combinations present (see [`combo_bit`]).
    combos: u8,
    /// The global instance, if any.
    global: Option<u32>,
}

impl Entry {
    fn new(name: &'static str, priority: i32) -> Entry {
        Entry {
            name,
            priority,
            instances: Vec::new(),
            by_scope: FastMap::default(),
            combos: 0,
            global: None,
        }
    }

    /// Files an instance under its scope.
    fn add(&mut self, scope: Scope, instance: Instance) {
        let index = u32::try_from(self.instances.len()).unwrap_or(u32::MAX);
        self.instances.push(instance);
        self.combos |= scope.bit();
        if scope.bit() == GLOBAL_ONLY {
            self.global = Some(index);
        }
        self.by_scope.insert(scope, index);
    }

    fn find(&self, scope: Scope) -> Option<u32> {
        if self.combos & scope.bit() == 0 {
            return None;
        }
        self.by_scope.get(&scope).copied()
    }

    /// Kong's `lookup_cfg`: the most specific instance for the request's scope.
    fn lookup(
        &self,
        route: Option<Uuid>,
        service: Option<Uuid>,
        consumer: Option<Uuid>,
    ) -> Option<u32> {
        // The common case, a plugin configured once globally: no hashing at all.
        if self.combos == GLOBAL_ONLY {
            return self.global;
        }
        for [r, s, c] in PRECEDENCE {
            // A combination applies only when the request has every part it names, and
            // is looked up only when some instance was configured with it.
            if (r && route.is_none())
                || (s && service.is_none())
                || (c && consumer.is_none())
                || self.combos & combo_bit(r, s, c) == 0
            {
                continue;
            }
            let scope = Scope {
                route: if r { route } else { None },
                service: if s { service } else { None },
                consumer: if c { consumer } else { None },
            };
            if let Some(i) = self.by_scope.get(&scope) {
                return Some(*i);
            }
        }
        None
    }
}

const GLOBAL_ONLY: u8 = combo_bit(false, false, false);

/// Kong's precedence of scopes as (route, service, consumer), most specific first.
const PRECEDENCE: [[bool; 3]; 8] = [
    [true, true, true],
    [true, false, true],
    [false, true, true],
    [true, true, false],
    [false, false, true],
    [true, false, false],
    [false, true, false],
    [false, false, false],
];

/// Why a plugin entity could not be compiled.
#[derive(Debug, Clone)]
pub struct PluginProblem {
    pub plugin_id: Uuid,
    pub message: String,
}

/// What compiling plugins needs from the node.
pub struct ChainEnv<'a> {
    pub registry: &'a PluginRegistry,
    pub state: &'a Arc<NodeState>,
    pub dns: &'a Arc<Dns>,
    pub node_trust: &'a Arc<rustls::RootCertStore>,
}

/// The compiled plugins of one runtime.
#[derive(Default)]
pub struct PluginChain {
    entries: Vec<Entry>,
    /// Global instances in priority order.
    globals: Vec<InstanceRef>,
    /// What the `certificate` phase runs: the global instances and those that ask to see
    /// every handshake ([`Plugin::certificate_when_scoped`]), in priority order.
    handshake: Vec<InstanceRef>,
}

impl PluginChain {
    /// Compiles every enabled plugin entity; any failure rejects the configuration (a
    /// plugin that cannot run must not be silently skipped: it may be authentication).
    pub fn compile(
        config: &ConfigSet,
        env: &ChainEnv<'_>,
    ) -> Result<PluginChain, Vec<PluginProblem>> {
        let credentials = CredentialIndexes::new(config);
        let mut problems = Vec::new();
        let mut by_name: HashMap<&'static str, Entry> = HashMap::new();
        for entity in config.plugins.iter().filter(|p| applies(p)) {
            let Some(registration) = env.registry.get(&entity.name) else {
                problems.push(PluginProblem {
                    plugin_id: entity.id,
                    message: format!("{} plugin is in use but not enabled", entity.name),
                });
                continue;
            };
            let cx = InstanceCx {
                entity,
                config,
                credentials: &credentials,
                state: env.state,
                dns: env.dns,
                node_trust: env.node_trust,
            };
            let handler = match (registration.factory)(&cx) {
                Ok(h) => h,
                Err(message) => {
                    problems.push(PluginProblem {
                        plugin_id: entity.id,
                        message: format!("{}: {message}", entity.name),
                    });
                    continue;
                }
            };
            let name = registration.def.name;
            let entry = by_name
                .entry(name)
                .or_insert_with(|| Entry::new(name, registration.def.priority));
            let scope = Scope {
                route: entity.route.map(|r| r.id),
                service: entity.service.map(|s| s.id),
                consumer: entity.consumer.map(|c| c.id),
            };
            entry.add(
                scope,
                Instance {
                    id: entity.id,
                    name,
                    handler,
                },
            );
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut entries: Vec<Entry> = by_name.into_values().collect();
        entries.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(b.name)));
        let globals: Vec<InstanceRef> = entries
            .iter()
            .enumerate()
            .filter_map(|(e, entry)| {
                entry
                    .find(Scope {
                        route: None,
                        service: None,
                        consumer: None,
                    })
                    .map(|instance| InstanceRef {
                        entry: e as u32,
                        instance,
                    })
            })
            .collect();
        let mut handshake = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            for (i, instance) in entry.instances.iter().enumerate() {
                let r = InstanceRef {
                    entry: e as u32,
                    instance: i as u32,
                };
                if globals.contains(&r) || instance.handler.certificate_when_scoped() {
                    handshake.push(r);
                }
            }
        }
        Ok(PluginChain {
            entries,
            globals,
            handshake,
        })
    }

    /// No plugin configured: the request path skips every hook.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Plugin names in execution order (highest priority first).
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// Whether any instance of `name` is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// Whether a global instance of `name` exists.
    pub fn has_global(&self, name: &str) -> bool {
        self.globals
            .iter()
            .any(|r| self.entries[r.entry as usize].name == name)
    }

    fn instance(&self, r: InstanceRef) -> Option<&Instance> {
        self.entries
            .get(r.entry as usize)?
            .instances
            .get(r.instance as usize)
    }

    /// The `certificate` phase of a TLS connection (global instances, and those of
    /// plugins that see every handshake).
    pub fn certificate(&self, sni: Option<&str>) -> TlsDecisions {
        let mut decisions = TlsDecisions::default();
        for r in &self.handshake {
            if let Some(instance) = self.instance(*r) {
                let mut phase = CertificatePhase::new(sni, &mut decisions);
                instance.handler.certificate(&mut phase);
            }
        }
        decisions
    }

    /// The `rewrite` phase (global instances). Stops at the first exit.
    pub async fn rewrite(
        &self,
        ctx: &mut RequestContext,
        runtime: &Runtime,
        head: &mut http::request::Parts,
        body: &mut RequestBody,
    ) -> Flow {
        for r in &self.globals {
            let Some(instance) = self.instance(*r) else {
                continue;
            };
            let mut kong = Kong::new(
                Phase::Rewrite,
                ctx,
                runtime,
                RequestSide::Live {
                    head: &mut *head,
                    body: &mut *body,
                },
            );
            kong.instance = Some(instance);
            if let Flow::Exit(exit) = instance.handler.rewrite(&mut kong).await {
                return Flow::Exit(exit);
            }
        }
        Flow::Continue
    }

    /// The `access` phase: walks the chain, choosing each plugin's instance for the
    /// request's route, service and current consumer, and collects them for the later
    /// phases. After an exit, the remaining plugins are still collected (their later
    /// phases run) but their `access` does not.
    pub async fn access(
        &self,
        ctx: &mut RequestContext,
        runtime: &Runtime,
        head: &mut http::request::Parts,
        body: &mut RequestBody,
    ) -> Flow {
        let mut collected = Vec::with_capacity(self.entries.len());
        let mut exit = None;
        for (e, entry) in self.entries.iter().enumerate() {
            let found = entry.lookup(
                ctx.route.as_ref().map(|r| r.id),
                ctx.service.as_ref().map(|s| s.id),
                ctx.consumer.as_ref().map(|c| c.id),
            );
            let Some(index) = found else {
                continue;
            };
            let r = InstanceRef {
                entry: e as u32,
                instance: index,
            };
            collected.push(r);
            if exit.is_some() {
                continue;
            }
            let Some(instance) = self.instance(r) else {
                continue;
            };
            let mut kong = Kong::new(
                Phase::Access,
                ctx,
                runtime,
                RequestSide::Live {
                    head: &mut *head,
                    body: &mut *body,
                },
            );
            kong.instance = Some(instance);
            if let Flow::Exit(e) = instance.handler.access(&mut kong).await {
                exit = Some(e);
            }
        }
        ctx.plugins = Some(collected);
        match exit {
            Some(e) => Flow::Exit(e),
            None => Flow::Continue,
        }
    }

    /// Whether a plugin of this request reads the request or response heads after
    /// `access` (see [`Plugin::reads_request_after_access`]).
    pub fn keeps_heads(&self, ctx: &RequestContext) -> bool {
        let list = ctx.plugins.as_deref().unwrap_or(&self.globals);
        list.iter().any(|r| {
            self.instance(*r)
                .is_some_and(|i| i.handler.reads_request_after_access())
        })
    }

    /// The instances of the phases after `access`.
    fn downstream(&self, ctx: &mut RequestContext) -> Vec<InstanceRef> {
        match ctx.plugins.take() {
            Some(list) => list,
            None => self.globals.clone(),
        }
    }

    /// Runs `f` for every downstream instance with a PDK of `phase`.
    fn each_downstream(
        &self,
        phase: Phase,
        ctx: &mut RequestContext,
        runtime: &Runtime,
        mut response: Option<&mut http::response::Parts>,
        metrics: Option<&Metrics>,
        mut f: impl FnMut(&dyn Plugin, &mut Kong<'_>),
    ) {
        let list = self.downstream(ctx);
        let head = ctx.request_head.take();
        for r in &list {
            let Some(instance) = self.instance(*r) else {
                continue;
            };
            let mut kong = Kong::new(phase, ctx, runtime, RequestSide::Sent(head.as_deref()));
            kong.response = response.as_deref_mut();
            kong.instance = Some(instance);
            kong.metrics = metrics;
            f(instance.handler.as_ref(), &mut kong);
        }
        ctx.request_head = head;
        ctx.plugins = Some(list);
    }

    /// The `header_filter` phase.
    pub fn header_filter(
        &self,
        ctx: &mut RequestContext,
        runtime: &Runtime,
        response: &mut http::response::Parts,
    ) {
        self.each_downstream(
            Phase::HeaderFilter,
            ctx,
            runtime,
            Some(response),
            None,
            |p, k| p.header_filter(k),
        );
    }

    /// The `body_filter` phase, for one chunk.
    pub fn body_filter(
        &self,
        ctx: &mut RequestContext,
        runtime: &Runtime,
        chunk: &mut Bytes,
        eof: bool,
    ) {
        self.each_downstream(Phase::BodyFilter, ctx, runtime, None, None, |p, k| {
            p.body_filter(k, chunk, eof)
        });
    }

    /// The `log` phase; `metrics` is the node's registry (for the prometheus plugin).
    pub fn log(&self, ctx: &mut RequestContext, runtime: &Runtime, metrics: Option<&Metrics>) {
        self.each_downstream(Phase::Log, ctx, runtime, None, metrics, |p, k| p.log(k));
    }
}

/// Kong's `should_process_plugin`: enabled and for a protocol of the HTTP subsystem.
fn applies(p: &PluginEntity) -> bool {
    p.enabled && p.protocols.iter().any(|proto| proto.is_http())
}

#[cfg(test)]
mod tests;
