//! Carrying out an [`Action`]: a submission goes down into the pipeline
//! ([`crate::submit`]), the other modes and the subcommands to their
//! runners. Every failure comes back here as a [`Failure`] and leaves as
//! one line on stderr and its exit status, in [`run`] only.

use super::{convert_wrapper_entry, external, parse, parse_recipient_arg, parse_sender, Action};
use crate::exit::{Failure, OK};
use crate::message;
use crate::route;
use crate::submit::{self, Send};
use crate::{cache, queue};
use clap::ArgMatches;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

/// Run the program for `argv`; the exit status.
pub fn run(argv: Vec<OsString>) -> u8 {
    let result = parse(argv).and_then(dispatch);
    match result {
        Ok(status) => status,
        Err(failure) => failure.report(),
    }
}

fn dispatch(action: Action) -> Result<u8, Failure> {
    match action {
        Action::Submit(send) => submit::submit(&send, convert_wrapper_entry).map(|()| OK),
        Action::ListQueue { config } => {
            let plan = cache::load_plan(config.as_deref(), false)?;
            queue::list(&plan).map(|()| OK)
        }
        Action::FlushQueue { config, session } => {
            let plan = cache::load_plan(config.as_deref(), session.verbose)?;
            queue::flush(&plan, &session, convert_wrapper_entry).map(|()| OK)
        }
        Action::Nothing => Ok(OK),
        Action::Print(text) => {
            let _ = io::stdout().write_all(text.as_bytes());
            Ok(OK)
        }
        Action::Subcommand(name, m) => subcommand(&name, &m),
    }
}

fn subcommand(name: &str, m: &ArgMatches) -> Result<u8, Failure> {
    match name {
        "check" => Ok(external::run_check(m)),
        "dump" => Ok(external::run_dump(m)),
        "route" => route_subcommand(m).map(|()| OK),
        "queue" => external::run_queue(m, convert_wrapper_entry),
        "compile" => Ok(cache::run_compile(m)),
        "completions" => super::completions::run_completions(m).map(|()| OK),
        other => Err(Failure::usage(format!("unknown subcommand {other}"))),
    }
}

/// `esmtp route [-C FILE] [-f ADDR] [-t] RCPT...`
fn route_subcommand(m: &ArgMatches) -> Result<(), Failure> {
    let sender = m
        .get_one::<String>("sender")
        .map(|s| parse_sender(s))
        .transpose()?;
    let mut recipients = Vec::new();
    for r in m.get_many::<String>("recipients").into_iter().flatten() {
        recipients.extend(parse_recipient_arg(r)?);
    }
    let extract = m.get_flag("extract");
    if recipients.is_empty() && !extract {
        return Err(Failure::usage("Recipient names must be specified"));
    }
    let send = Send {
        sender,
        extract,
        recipients,
        ..Send::default()
    };
    let headers = if extract {
        message::read_headers(&mut io::stdin().lock())?
    } else {
        message::Headers::default()
    };
    let config = m.get_one::<PathBuf>("config").map(|p| p.as_path());
    let selector = submit::selector(&send, &headers);
    let plan = cache::load_plan_for(config, false, selector.as_deref())?.plan;
    let (decision, _) = submit::decide(&plan, &send, &headers)?;
    let _ = io::stdout().write_all(route::describe(&plan, &decision).as_bytes());
    Ok(())
}
