//! The subcommands other parts of the program own, behind one small shim so
//! the front end builds before they land: `check` and `dump` belong to the
//! configuration compiler (`crate::config`), `queue` to the queue.
//!
//! `check` and `dump` are the compiler's own. TEMPORARY: until the queue
//! provides `queue::cli::{queue_command, run_queue}`, a minimal
//! `queue list|flush` calls `queue::list`/`queue::flush`; swap it for a
//! re-export when that is on main.

use crate::exit::Failure;
use crate::transport::SessionOptions;
use crate::{cache, queue};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

pub use crate::config::{check_command, dump_command, run_check, run_dump};

/// Exit status of `check` and `dump` for a command-line mistake: theirs is a
/// linter's convention (0 clean, 1 problems found, 2 usage), not sysexits.
pub const CHECK_USAGE: u8 = 2;

/// `esmtp queue list|flush`.
pub fn queue_command() -> Command {
    let config = || {
        Arg::new("config")
            .short('C')
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Configuration file")
    };
    Command::new("queue")
        .about("List or deliver the queue")
        .subcommand_required(true)
        .subcommand(
            Command::new("list")
                .about("List the messages waiting in the queue (as mailq)")
                .arg(config()),
        )
        .subcommand(
            Command::new("flush")
                .about("Deliver the messages waiting in the queue (as sendmail -q)")
                .arg(config())
                .arg(
                    Arg::new("verbose")
                        .short('v')
                        .action(ArgAction::SetTrue)
                        .help("Verbose progress on standard output"),
                ),
        )
}

/// Run `esmtp queue ...`.
pub fn run_queue(m: &ArgMatches) -> Result<(), Failure> {
    let config = |sub: &ArgMatches| sub.get_one::<PathBuf>("config").cloned();
    match m.subcommand() {
        Some(("list", sub)) => {
            let plan = cache::load_plan(config(sub).as_deref(), false)?;
            queue::list(&plan)
        }
        Some(("flush", sub)) => {
            let session = SessionOptions {
                verbose: sub.get_flag("verbose"),
                transcript: None,
            };
            let plan = cache::load_plan(config(sub).as_deref(), session.verbose)?;
            queue::flush(&plan, &session)
        }
        _ => Err(Failure::usage("esmtp queue: expected list or flush")),
    }
}
