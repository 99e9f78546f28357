//! `esmtp queue list|status|flush|remove`.

use super::{flush_status, flush_with, legacy, list, queue_dir, FlushOptions};
use crate::exit::{Failure, OK};
use crate::plan::Plan;
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

/// What `esmtp queue status` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStatus {
    /// Entries waiting for delivery.
    pub queued: usize,
    /// Entries given up on (kept in `failed/`; a flush does not retry them).
    pub failed: usize,
    /// Messages in an esmtp-wrapper queue that the next flush imports.
    pub legacy: usize,
}

impl QueueStatus {
    /// True when a flush has something to deliver.
    pub fn waiting(&self) -> bool {
        self.queued > 0 || self.legacy > 0
    }
}

/// Count the queue of `plan` without creating it: a spool that does not
/// exist yet is empty. This runs every few minutes from the systemd
/// timer, so it reads directory listings and entry headers only.
pub fn status(plan: &Plan) -> Result<QueueStatus, Failure> {
    let dir = queue_dir(plan)?;
    let legacy = legacy::default_dir()
        .map(|d| legacy::pending(&d))
        .unwrap_or(0);
    if !dir.join("msg").is_dir() {
        return Ok(QueueStatus {
            legacy,
            ..QueueStatus::default()
        });
    }
    let spool = super::store::Spool::open(&dir)?;
    Ok(QueueStatus {
        queued: spool.ids().len(),
        failed: spool.failed_infos().len(),
        legacy,
    })
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn status_line(s: &QueueStatus) -> String {
    let mut line = if s.queued == 0 {
        "Mail queue is empty".to_string()
    } else {
        format!("{} queued", plural(s.queued, "message"))
    };
    if s.failed > 0 {
        line.push_str(&format!(", {} failed (see `mailq`)", s.failed));
    }
    if s.legacy > 0 {
        line.push_str(&format!(
            "; {} in the esmtp-wrapper queue",
            plural(s.legacy, "message")
        ));
    }
    line
}

/// Run `esmtp queue ...` given the matches of [`queue_command`]; the exit
/// status (`status` answers with it).
pub fn run_queue(matches: &ArgMatches, convert: legacy::EntryConverter) -> Result<u8, Failure> {
    let config = matches.get_one::<PathBuf>("config").cloned();
    let verbose = matches.get_flag("verbose");
    let plan = crate::cache::load_plan(config.as_deref(), verbose)?;
    let session = SessionOptions {
        verbose,
        transcript: None,
    };
    match matches.subcommand() {
        Some(("list", _)) => list(&plan).map(|()| OK),
        Some(("status", m)) => {
            let s = status(&plan)?;
            if !m.get_flag("quiet") {
                println!("{}", status_line(&s));
            }
            Ok(if s.waiting() { OK } else { NOTHING_QUEUED })
        }
        Some(("flush", m)) => {
            let opts = FlushOptions {
                force: !m.get_flag("due"),
                wrapper: legacy::WrapperImport::at_default_dir(convert),
            };
            flush_status(&flush_with(&plan, &session, &opts)?).map(|()| OK)
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
                Ok(OK)
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
        _ => Err(Failure::usage("esmtp queue: list, status, flush or remove")),
    }
}
