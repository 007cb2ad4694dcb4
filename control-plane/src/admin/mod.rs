//! The Kong-compatible Admin API.
//!
//! A request flows through [`dispatch`] (token, routing, `OPTIONS`, 404/405, body and
//! query parsing, common headers) to one endpoint handler, which for entity writes runs the
//! pipeline in [`entity::write`]: parse → coerce (form bodies, by the schema) → resolve
//! foreign keys given by endpoint key → schema (defaults, validation) → checks that need
//! the database → store (one transaction) → render. Every failure is an [`ApiError`],
//! which renders itself with Kong's status and body.
//!
//! Modules: `routes` (the routing table), `dispatch`, `body`, `query`, `paging`, `error`,
//! `reply`, `context`, `state`; endpoint families: `meta`, `schemas`, `tags`, `entity`
//! (generic CRUD, lookups and the write pipeline), `nested`, `certificates`, `targets`.

pub mod args;
mod body;
mod certificates;
mod context;
mod dispatch;
mod entity;
mod error;
mod meta;
mod nested;
mod paging;
mod query;
mod reply;
mod routes;
mod schemas;
mod state;
mod tags;
mod targets;
pub mod ttl;

pub use body::{DEFAULT_BODY_LIMIT, RequestBody};
pub use context::Ctx;
pub use dispatch::{AdminApi, TOKEN_HEADER};
pub use error::ApiError;
pub use meta::{KONG_COMPATIBLE_VERSION, PORTICO_VERSION};
pub use reply::Reply;
pub use routes::{CustomHandler, Param};
pub use state::{AdminConfig, AdminState, ServerStats, hostname};
