//! `esmtp route`: where a message would go, decided exactly as sending
//! decides it, printed instead of sent.

use crate::cli::{parse_recipient_arg, parse_sender};
use crate::exit::Failure;
use crate::submit::{self, Request};
use crate::{cache, message, route};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::{self, Write};
use std::path::PathBuf;

/// What `esmtp route` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteArgs {
    pub config: Option<PathBuf>,
    pub sender: Option<String>,
    pub extract: bool,
    pub recipients: Vec<String>,
}

impl RouteArgs {
    pub fn from_matches(m: &ArgMatches) -> RouteArgs {
        RouteArgs {
            config: m.get_one::<PathBuf>("config").cloned(),
            sender: m.get_one::<String>("sender").cloned(),
            extract: m.get_flag("extract"),
            recipients: m
                .get_many::<String>("recipients")
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        }
    }
}

/// `esmtp route`: print the routing decision without sending.
pub fn route_command() -> Command {
    Command::new("route")
        .about("Print where a message would go, without sending anything")
        .long_about(
            "Load the plan, select the identity and split the recipients exactly as \
             sending would, then print the decision: identity, envelope sender, the \
             smarthost with its recipients, and the MDA command for local ones. \
             Nothing is sent. With -t the headers are read from standard input.",
        )
        .arg(super::config_arg())
        .arg(
            Arg::new("sender")
                .short('f')
                .short_alias('r')
                .value_name("ADDR")
                .allow_hyphen_values(true)
                .help("Envelope sender (selects the identity)"),
        )
        .arg(
            Arg::new("extract")
                .short('t')
                .action(ArgAction::SetTrue)
                .help("Also take recipients from the headers on standard input"),
        )
        .arg(
            Arg::new("recipients")
                .value_name("RECIPIENT")
                .num_args(0..)
                .action(ArgAction::Append),
        )
}

/// `esmtp route [-C FILE] [-f ADDR] [-t] RCPT...`
pub fn run_route(args: &RouteArgs) -> Result<(), Failure> {
    let sender = args.sender.as_deref().map(parse_sender).transpose()?;
    let mut recipients = Vec::new();
    for r in &args.recipients {
        recipients.extend(parse_recipient_arg(r)?);
    }
    let extract = args.extract;
    if recipients.is_empty() && !extract {
        return Err(Failure::usage("Recipient names must be specified"));
    }
    let send = Request {
        sender,
        extract,
        recipients,
        ..Request::default()
    };
    let headers = if extract {
        message::read_headers(&mut io::stdin().lock())?
    } else {
        message::Headers::default()
    };
    let config = args.config.as_deref();
    let selector = submit::selector(&send, &headers);
    let plan = cache::load_plan_for(config, false, selector.as_deref())?.plan;
    let (decision, _) = submit::decide(&plan, &send, &headers)?;
    let _ = io::stdout().write_all(route::describe(&plan, &decision).as_bytes());
    Ok(())
}
