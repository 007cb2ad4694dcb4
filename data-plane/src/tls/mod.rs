//! TLS on both sides of the proxy: certificates served to clients by SNI ([`server`]) and
//! the client configurations used towards upstreams ([`client`]).

pub mod client;
pub mod pem;
pub mod server;
