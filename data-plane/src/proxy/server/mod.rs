//! The downstream HTTP/1.x server, driven in the connection's task.
//!
//! hyper's server connection (its dispatcher, its buffered I/O, a timer armed for every
//! request head) was the largest part of the proxy's own work per request. This server
//! reads and parses request heads itself ([`head`], httparse), lets the request path read
//! the body straight from the connection's buffer ([`body`]), and writes the response
//! head and body with one write for a small response ([`write`]). HTTP/2 (ALPN `h2`, or
//! h2c with prior knowledge) is served by hyper.

mod body;
mod conn;
mod head;
mod inbound;
mod rewind;
mod write;

pub use body::{BodyError, DownstreamBody, RequestBody};
pub use conn::{Served, serve};
pub use rewind::{ClientUpgrade, Rewind, Upgraded};
