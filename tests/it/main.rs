//! The integration tests: one binary, one module per area, and the helpers
//! they share under [`support`] (test servers, certificates, hostile peers,
//! the front end's environment, process and environment helpers).
//!
//! Every test runs in this one process: a test must not change the
//! process's state (environment, current directory, umask, signal
//! dispositions) except through [`support::env`], which serialises it.

mod support;

mod cache;
mod clients;
mod config;
mod docs;
mod frontend;
mod fuzz;
mod pkg;
mod queue;
mod relay;
