//! Carrying out an [`Action`]: a submission goes down into the pipeline
//! ([`crate::submit`]), the other modes and the subcommands to their
//! runners. Every failure comes back here as a [`Failure`] and leaves as
//! one line on stderr and its exit status, in [`run`] only.

use super::{convert_wrapper_entry, parse, Action};
use crate::exit::{Failure, OK};
use crate::{cache, queue, submit};
use std::ffi::OsString;
use std::io::{self, Write};

/// Run the program for `argv`; the exit status.
pub fn run(argv: Vec<OsString>) -> u8 {
    match parse(argv).and_then(dispatch) {
        Ok(()) => OK,
        Err(failure) => failure.report(),
    }
}

fn dispatch(action: Action) -> Result<(), Failure> {
    match action {
        Action::Submit(send) => submit::submit(&send, convert_wrapper_entry),
        Action::ListQueue { config } => {
            let plan = cache::load_plan(config.as_deref(), false)?;
            queue::list(&plan)
        }
        Action::FlushQueue { config, session } => {
            let plan = cache::load_plan(config.as_deref(), session.verbose)?;
            queue::flush(&plan, &session, convert_wrapper_entry)
        }
        Action::CheckAliases { config } => {
            super::commands::check::run_newaliases(config.as_deref())
        }
        Action::Print(text) => {
            let _ = io::stdout().write_all(text.as_bytes());
            Ok(())
        }
        Action::Subcommand(subcommand) => subcommand.run(),
    }
}
