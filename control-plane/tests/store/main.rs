//! The store against real databases: every test runs once on a fresh Postgres database
//! (`DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/`) and once on an embedded
//! SQLite file in a temporary directory.
#![allow(clippy::unwrap_used)]

mod fixtures;

mod bulk;
mod cascades;
mod cli;
mod concurrency;
mod constraints;
mod crud;
mod faults;
mod listing;
mod snapshots;
mod versioning;
