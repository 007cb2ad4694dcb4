//! Portico's data plane: the proxy, its router and balancers, plugins, and the sync client
//! that keeps the runtime configuration current.

pub mod cli;
pub mod router;
pub mod sync;
