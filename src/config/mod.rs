//! The esmtprc compiler: lexer (logos) → parser (lalrpop, `grammar/`) → AST →
//! lowering into a [`crate::plan::Plan`] → lints → diagnostics.
//!
//! STUB: owned by the compiler work (issue 2). The signatures below are the
//! contract the rest of the program codes against; keep them (extend freely).

use crate::exit::Failure;
use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-C FILE`.
    Explicit(PathBuf),
    /// `~/.esmtprc`.
    User(PathBuf),
    /// `/etc/esmtprc`.
    System(PathBuf),
    /// No file found at all.
    None,
}

/// Find the configuration file as sendmail mode does (SPEC §2.1), including
/// the ownership/permission check of `~/.esmtprc` (error 78 when it fails).
pub fn locate(explicit: Option<&Path>) -> Result<Origin, Failure> {
    let _ = explicit;
    Err(Failure::config(
        "configuration loading is not implemented yet",
    ))
}

impl Origin {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Origin::Explicit(p) | Origin::User(p) | Origin::System(p) => Some(p),
            Origin::None => None,
        }
    }
}

/// Compile source bytes read from `origin` for sending: on errors, render the
/// diagnostics to stderr and fail with status 78. An `Origin::None` with empty
/// source gives [`Plan::empty`]. The cache calls this when its copy is stale.
pub fn compile_for_sending(origin: &Origin, source: &[u8]) -> Result<Plan, Failure> {
    let _ = (origin, source);
    Err(Failure::config(
        "configuration loading is not implemented yet",
    ))
}

/// Read, compile and lint the configuration for sending. Errors are rendered
/// to stderr and end in status 78; warnings are not shown (that is `check`'s
/// job) except where they matter at send time.
pub fn load_for_sending(explicit: Option<&Path>) -> Result<Plan, Failure> {
    let _ = explicit;
    Err(Failure::config(
        "configuration loading is not implemented yet",
    ))
}
