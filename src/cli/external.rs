//! The subcommands other parts of the program own, behind one small shim so
//! the front end builds before they land: `check` and `dump` belong to the
//! configuration compiler (`crate::config`), `queue` to the queue.
//!
//! `check` and `dump` are the compiler's own; `queue` is re-exported from
//! `queue::cli`.

pub use crate::config::{check_command, dump_command, run_check, run_dump};

/// Exit status of `check` and `dump` for a command-line mistake: theirs is a
/// linter's convention (0 clean, 1 problems found, 2 usage), not sysexits.
pub const CHECK_USAGE: u8 = 2;

/// `esmtp queue list|flush|remove`: the queue's own subcommand.
pub use crate::queue::cli::{queue_command, run_queue};
