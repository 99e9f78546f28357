//! The subcommands other parts of the program own, behind one small shim so
//! the front end builds before they land: `check` and `dump` belong to the
//! configuration compiler (`crate::config`), `queue` to the queue.
//!
//! TEMPORARY: until the compiler provides `config::check_command()`,
//! `config::run_check(&ArgMatches) -> u8`, `config::dump_command()` and
//! `config::run_dump(&ArgMatches) -> u8`, these say so and exit 70; until the
//! queue provides `queue::cli::{queue_command, run_queue}`, a minimal
//! `queue list|flush` calls `queue::list`/`queue::flush`. Swap these bodies
//! for re-exports when they are on main.

use crate::exit::{Failure, SOFTWARE};
use crate::transport::SessionOptions;
use crate::{cache, queue};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

pub fn check_command() -> Command {
    Command::new("check")
        .about("Parse, compile and lint a configuration file without sending")
        .arg(Arg::new("file").value_name("FILE"))
}

pub fn dump_command() -> Command {
    Command::new("dump")
        .about("Print the compiled plan, secrets redacted")
        .arg(Arg::new("file").value_name("FILE"))
}

fn not_yet(what: &str) -> u8 {
    let _ = writeln!(
        std::io::stderr(),
        "esmtp: `esmtp {what}` is not available in this build yet"
    );
    SOFTWARE
}

pub fn run_check(_m: &ArgMatches) -> u8 {
    not_yet("check")
}

pub fn run_dump(_m: &ArgMatches) -> u8 {
    not_yet("dump")
}

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
