//! Portico's control plane: the Admin API, the configuration store, declarative import and
//! export, cluster certificates and the snapshot stream to data planes.

pub mod admin;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod declarative;
pub mod health;
pub mod serve;
pub mod store;
