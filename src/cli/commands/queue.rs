//! `esmtp queue list|status|flush|remove`: the queue's subcommand.

use crate::exit::Failure;
use crate::queue::legacy::{EntryConverter, WrapperImport};
use crate::queue::{self, flush_status, flush_with, FlushOptions};
use crate::transport::SessionOptions;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::PathBuf;

/// The `queue` subcommand for the front end's `esmtp` command.
pub fn queue_command() -> Command {
    Command::new("queue")
        .about("Inspect and deliver the durable queue")
        .subcommand_required(true)
        .arg(super::config_arg().global(true))
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
            Command::new("status")
                .about("Say whether mail is waiting: exit 0 when it is, 1 when nothing is queued")
                .arg(
                    Arg::new("quiet")
                        .short('q')
                        .long("quiet")
                        .action(ArgAction::SetTrue)
                        .help("Print nothing; only the exit status tells (for ExecCondition=)"),
                ),
        )
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

/// Exit status of `esmtp queue status` when nothing waits (as `grep -q`).
pub const NOTHING_QUEUED: u8 = 1;

/// What `esmtp queue` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueArgs {
    pub config: Option<PathBuf>,
    pub verbose: bool,
    pub action: QueueAction,
}

/// The queue subcommand's own subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueAction {
    List,
    Status { quiet: bool },
    Flush { due: bool },
    Remove { ids: Vec<String> },
}

impl QueueArgs {
    /// `None` without a known subcommand (clap requires one).
    pub fn from_matches(m: &ArgMatches) -> Option<QueueArgs> {
        let action = match m.subcommand()? {
            ("list", _) => QueueAction::List,
            ("status", s) => QueueAction::Status {
                quiet: s.get_flag("quiet"),
            },
            ("flush", s) => QueueAction::Flush {
                due: s.get_flag("due"),
            },
            ("remove", s) => QueueAction::Remove {
                ids: s
                    .get_many::<String>("id")
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
            },
            _ => return None,
        };
        Some(QueueArgs {
            config: m.get_one::<PathBuf>("config").cloned(),
            verbose: m.get_flag("verbose"),
            action,
        })
    }
}

/// Run `esmtp queue ...`; `status` answers with its exit status alone
/// ([`NOTHING_QUEUED`]). A flush imports the esmtp-wrapper queue with
/// `convert`.
pub fn run_queue(args: &QueueArgs, convert: EntryConverter) -> Result<(), Failure> {
    let verbose = args.verbose;
    let plan = crate::cache::load_plan(args.config.as_deref(), verbose)?;
    let session = SessionOptions {
        verbose,
        transcript: None,
    };
    match &args.action {
        QueueAction::List => queue::list(&plan),
        QueueAction::Status { quiet } => {
            let s = queue::status::status(&plan)?;
            if !quiet {
                println!("{}", queue::status::status_line(&s));
            }
            if s.waiting() {
                Ok(())
            } else {
                Err(Failure::reported(NOTHING_QUEUED))
            }
        }
        QueueAction::Flush { due } => {
            let opts = FlushOptions {
                force: !due,
                wrapper: WrapperImport::at_default_dir(convert),
            };
            flush_status(&flush_with(&plan, &session, &opts)?)
        }
        QueueAction::Remove { ids } => {
            let spool = queue::store::QueueDir::open(&queue::queue_dir(&plan)?)?;
            let mut missing = Vec::new();
            for id in ids {
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
    }
}
