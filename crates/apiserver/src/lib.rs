//! The minato API server: a Kubernetes-compatible HTTPS API on a revisioned store.
//!
//! Request path: TLS + client certificate (authentication) → authorization hook → priority and
//! fairness (a seat, a fair queue, or 429) → routing →
//! one generic resource path for every kind (decode, defaulting, validation, admission,
//! store, watch), with per-kind behaviour from the kind registry's strategies.

pub mod admission;
pub mod alloc;
pub mod auth;
pub mod bootstrap;
pub mod crds;
pub mod discovery;
pub mod error;
pub mod event_ttl;
pub mod eviction;
pub mod fieldmanager;
pub mod filter;
pub mod flowcontrol;
pub mod http;
pub mod join;
pub mod meta;
pub mod metrics;
pub mod nodeproxy;
pub mod openapi;
pub mod patch_strict;
pub mod pki;
pub mod protobuf;
pub mod request;
pub mod resource;
pub mod resource_virtual;
pub mod scale;
pub mod server;
pub mod stored_view;
pub mod subresource;
pub mod table;
pub mod tokens;
pub mod watch;
pub mod watch_cache;

pub use server::{Config, RunningServer};
