//! The compiled plan on disk (issue 5).
//!
//! STUB: owned by the cache work. Every submission loads its plan through
//! [`load_plan`].

use crate::exit::Failure;
use crate::plan::Plan;
use std::path::Path;

/// Load the plan for sending: the cached compiled plan when it is valid for
/// the current source, else compile the source (and refresh the cache).
pub fn load_plan(explicit: Option<&Path>, verbose: bool) -> Result<Plan, Failure> {
    let _ = verbose;
    crate::config::load_for_sending(explicit)
}
