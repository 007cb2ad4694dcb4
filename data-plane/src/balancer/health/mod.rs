//! Health checks, with the semantics of Kong's (lua-resty-healthcheck) checker.
//!
//! - [`state`]: the per-address health state machine, in-flight count and latency average.
//! - [`config`]: an upstream's `healthchecks` prepared for reporting.
//! - [`registry`]: state that survives configuration updates, and the active checkers.
//! - [`active`] / [`probe`]: the background probes.
//!
//! Passive checks are fed by the proxy: every try of real traffic reports its
//! [`Outcome`](crate::balancer::Outcome) through its [`Lease`](crate::balancer::Lease).

pub mod active;
pub mod config;
pub mod probe;
pub mod registry;
pub mod state;

pub use config::{HealthConfig, ProbeKind, ProbeResult};
pub use registry::{BalancerRegistry, UpstreamState};
pub use state::{AddressState, Health, Transition};
