//! `esmtp queue list|flush|remove`.

use super::{flush_status, flush_with, legacy, list, FlushOptions};
use crate::exit::Failure;
use crate::transport::SessionOptions;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

fn config_arg() -> Arg {
    Arg::new("config")
        .short('C')
        .long("config")
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help("Configuration file (default ~/.esmtprc, then /etc/esmtprc)")
}

/// The `queue` subcommand for the front end's `esmtp` command.
pub fn queue_command() -> Command {
    Command::new("queue")
        .about("Inspect and deliver the durable queue")
        .subcommand_required(true)
        .arg(config_arg().global(true))
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .global(true)
                .help("Show progress"),
        )
        .subcommand(Command::new("list").about("List queued messages (as mailq)"))
        .subcommand(
            Command::new("flush")
                .about("Deliver the queued messages (as -q, deliver)")
                .arg(
                    Arg::new("due")
                        .long("due")
                        .action(ArgAction::SetTrue)
                        .help("Only the messages whose retry time has come"),
                ),
        )
        .subcommand(
            Command::new("remove")
                .about("Delete queued or failed messages by id")
                .arg(Arg::new("id").required(true).num_args(1..)),
        )
}

/// Run `esmtp queue ...` given the matches of [`queue_command`].
pub fn run_queue(matches: &ArgMatches) -> Result<(), Failure> {
    let config = matches.get_one::<PathBuf>("config").cloned();
    let verbose = matches.get_flag("verbose");
    let plan = crate::cache::load_plan(config.as_deref(), verbose)?;
    let session = SessionOptions {
        verbose,
        transcript: None,
    };
    match matches.subcommand() {
        Some(("list", _)) => list(&plan),
        Some(("flush", m)) => {
            let opts = FlushOptions {
                force: !m.get_flag("due"),
                legacy_dir: legacy::default_dir(),
            };
            flush_status(&flush_with(&plan, &session, &opts)?)
        }
        Some(("remove", m)) => {
            let spool = super::store::Spool::open(&super::queue_dir(&plan)?)?;
            let mut missing = Vec::new();
            for id in m.get_many::<String>("id").into_iter().flatten() {
                if !spool.remove_id(id)? {
                    missing.push(id.clone());
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Failure::new(
                    crate::exit::NOUSER,
                    format!(
                        "no such message (or being delivered): {}",
                        missing.join(", ")
                    ),
                ))
            }
        }
        _ => Err(Failure::usage("esmtp queue: list, flush or remove")),
    }
}
