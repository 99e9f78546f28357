//! Exit statuses (sysexits.h) and the one error type that ends in a message
//! and a status. `main` maps a [`Failure`] to its status in one place.

use std::fmt;

pub const OK: u8 = 0;
/// Command line usage error.
pub const USAGE: u8 = 64;
/// Bad message data (`-t` without headers, no recipients found).
pub const DATAERR: u8 = 65;
/// Input file missing or unreadable (`esmtp import msmtp FILE`).
pub const NOINPUT: u8 = 66;
/// Recipient refused.
pub const NOUSER: u8 = 67;
/// Server unreachable.
pub const UNAVAILABLE: u8 = 69;
/// Internal error, transfer failed.
pub const SOFTWARE: u8 = 70;
/// MDA could not be run or failed.
pub const OSERR: u8 = 71;
/// Local delivery with no MDA configured.
pub const OSFILE: u8 = 72;
/// Cannot create an output file: `esmtp compile` could not write the cache.
pub const CANTCREAT: u8 = 73;
/// Input/output error: a queue entry that could not be read (moved aside).
pub const IOERR: u8 = 74;
/// Temporary failure (4xx, timeouts).
pub const TEMPFAIL: u8 = 75;
/// Protocol error.
pub const PROTOCOL: u8 = 76;
/// Permission problem.
pub const NOPERM: u8 = 77;
/// Configuration error.
pub const CONFIG: u8 = 78;

/// Something that ends the run: a one-line message and a sysexits status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(CONFIG, message)
    }
    pub fn software(message: impl Into<String>) -> Self {
        Self::new(SOFTWARE, message)
    }
    pub fn tempfail(message: impl Into<String>) -> Self {
        Self::new(TEMPFAIL, message)
    }
    /// True for failures that a later attempt may cure (the queue keeps
    /// such messages).
    pub fn is_temporary(&self) -> bool {
        matches!(self.status, TEMPFAIL | UNAVAILABLE)
    }
    /// A failure the command has already told the user about in its own
    /// words (`esmtp check: ...`, diagnostics, nothing at all for `esmtp
    /// queue status`): only its status is left to give.
    pub fn reported(status: u8) -> Self {
        Self::new(status, String::new())
    }
    /// Print the failure as `esmtp: ...` on stderr (ignoring a closed
    /// stderr), unless it was [`Failure::reported`] already, and give its
    /// status.
    pub fn report(&self) -> u8 {
        use std::io::Write;
        if !self.message.is_empty() {
            let _ = writeln!(std::io::stderr(), "esmtp: {}", self.message);
        }
        self.status
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
