//! Portico's data plane: the proxy, its router and balancers, plugins, and the sync client
//! that keeps the runtime configuration current.
//!
//! - [`runtime`]: entities compiled into an immutable [`runtime::Runtime`], published
//!   atomically through a [`runtime::RuntimeHandle`].
//! - [`proxy`]: listeners and the request path; [`node`]: a running node.
//! - [`router`], [`balancer`], [`tls`]: what the request path consults.
//! - [`plugins`]: the plugin trait, registry, chain, PDK and the bundled plugins.
//! - [`status`]: `/status`, `/status/ready`, `/metrics`.
//! - [`standalone`]: serving (and reloading) a declarative `kong.yml`.
//! - [`sync`]: node id and the on-disk snapshot cache (hybrid mode).

pub mod allocator;
pub mod balancer;
pub mod cli;
pub mod health;
pub mod node;
pub mod plugins;
pub mod proxy;
pub mod router;
pub mod runtime;
pub mod standalone;
pub mod status;
pub mod sync;
pub mod tls;
