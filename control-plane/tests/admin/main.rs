//! The Admin API against real databases, in-process through the axum `Router` (no
//! sockets). The modules walk kong-behaviours.md §0 and §1.1–§1.10 group by group; each
//! test runs once on a fresh Postgres database and once on an embedded SQLite file.
#![allow(clippy::unwrap_used)]

mod fixtures;
mod support;

mod bad_input;
mod certificates;
mod consumers;
mod conventions;
mod credentials;
mod meta;
mod mtls_credentials;
mod plugins;
mod routes;
mod services;
mod tags;
mod upstreams;
