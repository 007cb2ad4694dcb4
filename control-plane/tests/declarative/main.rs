//! Declarative configuration through the control plane: the `config import` / `config
//! export` commands run as real processes (`cli`), and configurations written through the
//! Admin API exported and imported back (`admin`).

#![allow(clippy::unwrap_used)]

mod admin;
mod cli;

const DECK: &str = include_str!(
    "../../../common/src/declarative/tests/fixtures/deck-dump-001-entities-with-tags.kong.yaml"
);
