//! The subcommands other parts of the program own: `check` and `dump` are
//! the configuration compiler's, `queue` the queue's (`compile` is the
//! cache's, called directly). The front end only recognises and dispatches
//! them.

pub use crate::config::{check_command, dump_command, run_check, run_dump};

/// Exit status of `check` and `dump` for a command-line mistake: theirs is a
/// linter's convention (0 clean, 1 problems found, 2 usage), not sysexits.
pub const CHECK_USAGE: u8 = 2;

/// `esmtp queue list|flush|remove`: the queue's own subcommand.
pub use crate::queue::cli::{queue_command, run_queue};
