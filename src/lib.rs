//! esmtp: a relay-only sendmail replacement.
//!
//! The configuration is compiled into a typed [`plan::Plan`]; every
//! invocation loads that plan and follows it. See ARCHITECTURE.md for the shape.

pub mod address;
pub mod cache;
pub mod cli;
pub mod config;
pub mod exit;
#[cfg(test)]
mod layers;
pub mod mail_params;
pub mod message;
pub mod owned;
pub mod plan;
pub mod queue;
pub mod route;
pub mod submit;
pub mod sys;
pub mod transport;
