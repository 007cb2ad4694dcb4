//! The Kong-compatible Admin API.

pub mod args;
